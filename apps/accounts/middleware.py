"""Session gatekeeping after authentication: the second factor and the platform admin.

Runs after ``django_otp.middleware.OTPMiddleware`` (which sets ``user.is_verified()``).

* A logged-in user who must pass a second factor (see ``two_factor.needs_verification``)
  and has not done so in this session reaches only the log-in, log-out, two-factor and
  password-reset pages; everything else redirects to the code page (or to enrolment
  when the user has no device yet). API paths get a 403 problem+json instead.
* ``/platform-admin/`` is for platform administrators only: anonymous visitors are sent
  to the product log-in page (the admin's own log-in form is never used), every other
  role gets a 403 page whatever ``is_superuser`` says.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from apps.accounts import two_factor
from apps.accounts.models import Role

# (namespace, url_name) pairs an unverified session may open.
EXEMPT_VIEWS = {
    ("accounts", "login"),
    ("accounts", "logout"),
    ("accounts", "two_factor_verify"),
    ("accounts", "two_factor_setup"),
    ("accounts", "password_reset"),
    ("accounts", "password_reset_sent"),
    ("accounts", "password_reset_confirm"),
    ("accounts", "password_reset_complete"),
    ("core", "healthz"),
}

ADMIN_PREFIX = "/platform-admin/"


class TwoFactorRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if request.path.startswith(ADMIN_PREFIX):
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            if not user.is_active or user.role != Role.PLATFORM_ADMIN:
                from apps.core.views import forbidden

                return forbidden(
                    request,
                    message="Platform administration is only for platform administrators. "
                    "Agency accounts are managed on the Agency pages.",
                )
        if not user.is_authenticated:
            return None
        match = request.resolver_match
        if match is not None and (match.namespace, match.url_name) in EXEMPT_VIEWS:
            return None
        if not two_factor.needs_verification(user=user):
            return None
        if request.path.startswith("/api/"):
            from apps.core.problems import problem_response

            return problem_response(
                status=403,
                title="Two-factor verification required",
                detail="Complete two-factor login in the browser session first.",
            )
        target = (
            "accounts:two_factor_verify"
            if two_factor.has_confirmed_device(user=user)
            else "accounts:two_factor_setup"
        )
        if request.method != "GET":
            return redirect(target)
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
