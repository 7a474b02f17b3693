"""Log-in, two-factor, password and My Account pages. Thin: logic is in the services."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import auth_services, two_factor
from apps.accounts.access import granted_applications
from apps.accounts.forms import (
    ChangePasswordForm,
    LoginForm,
    NewPasswordForm,
    PasswordResetRequestForm,
    TotpEnrolForm,
    TwoFactorCodeForm,
)
from apps.accounts.models import User

BACKUP_CODES_SESSION_KEY = "accounts_new_backup_codes"
GENERIC_LOGIN_ERROR = "The e-mail address or password is not correct."


def _safe_next(request: HttpRequest) -> str:
    """The ``next`` target if it stays on this site, else ''."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _with_next(url_name: str, next_url: str) -> str:
    url = reverse(url_name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _after_login(request: HttpRequest, next_url: str) -> HttpResponse:
    user = request.user
    if two_factor.needs_verification(user=user):
        if two_factor.has_confirmed_device(user=user):
            return redirect(_with_next("accounts:two_factor_verify", next_url))
        return redirect(_with_next("accounts:two_factor_setup", next_url))
    return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


def _locked_message(seconds: int) -> str:
    return (
        "Too many failed log-in attempts. Log-in is blocked for "
        f"{auth_services.describe_wait(seconds)}. If you forgot your password, use "
        '"Forgot password?" below.'
    )


# --- Log in / out -------------------------------------------------------------------------


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.user.is_authenticated and request.method == "GET":
        return _after_login(request, next_url)
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            outcome = auth_services.attempt_login(
                request=request,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
            if outcome.succeeded:
                return _after_login(request, next_url)
            if outcome.locked_seconds:
                form.add_error(None, _locked_message(outcome.locked_seconds))
                status = 429
            else:
                form.add_error(None, GENERIC_LOGIN_ERROR)
                status = 400
        else:
            status = 400
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth_services.log_out(request=request)
    messages.info(request, "You have been logged out.")
    return redirect(settings.LOGOUT_REDIRECT_URL)


# --- Two-factor ---------------------------------------------------------------------------


@sensitive_post_parameters("code")
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user
    next_url = _safe_next(request)
    if not two_factor.needs_verification(user=user):
        return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    if not two_factor.has_confirmed_device(user=user):
        return redirect(_with_next("accounts:two_factor_setup", next_url))
    form = TwoFactorCodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            outcome = two_factor.complete_login_second_step(
                request=request, code=form.cleaned_data["code"]
            )
            if outcome.verified:
                return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
            if outcome.locked_seconds:
                messages.error(request, _locked_message(outcome.locked_seconds))
                return redirect("accounts:login")
            if outcome.throttled:
                form.add_error(None, "Too many wrong codes in a row. Wait a few seconds and retry.")
            elif outcome.reused:
                form.add_error(
                    "code",
                    "That code was already used. Wait for your app to show the next one "
                    "(a new code every 30 seconds).",
                )
            else:
                form.add_error("code", "That code is not valid. Check the time on your phone.")
    return render(
        request, "accounts/two_factor_verify.html", {"form": form, "next": next_url}, status=status
    )


@sensitive_post_parameters("code")
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code, then confirm with a code."""
    user: User = request.user
    next_url = _safe_next(request)
    if two_factor.has_confirmed_device(user=user) and not two_factor.is_verified(user):
        # Adding a device needs the existing second factor first.
        return redirect(_with_next("accounts:two_factor_verify", next_url))
    device = two_factor.pending_totp_device(user=user)
    form = TotpEnrolForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                codes = two_factor.confirm_totp_enrolment(
                    request=request,
                    device=device,
                    code=form.cleaned_data["code"],
                    name=form.cleaned_data["name"],
                )
            except two_factor.TwoFactorError as error:
                codes = None
                form.add_error(None, str(error))
            if codes is not None:
                messages.success(request, "Two-factor login is on for your account.")
                if codes:
                    request.session[BACKUP_CODES_SESSION_KEY] = codes
                    return redirect(_with_next("accounts:backup_codes", next_url))
                return HttpResponseRedirect(next_url or reverse("accounts:my_account"))
            if not form.errors:
                form.add_error("code", "That code is not valid. Check the time on your phone.")
    context = {
        "form": form,
        "next": next_url,
        "qr_code": two_factor.qr_code_data_uri(device=device),
        "secret": two_factor.secret_for_manual_entry(device=device),
        "required": user.requires_two_factor,
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "accounts/two_factor_setup.html", context, status=status)


@never_cache
@login_required
def backup_codes(request: HttpRequest) -> HttpResponse:
    """Shows freshly generated backup codes exactly once."""
    codes = request.session.pop(BACKUP_CODES_SESSION_KEY, None)
    response = render(
        request,
        "accounts/backup_codes.html",
        {
            "codes": codes,
            "next": _safe_next(request) or resolve_url(settings.LOGIN_REDIRECT_URL),
            "remaining": two_factor.remaining_backup_codes(user=request.user),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def regenerate_backup_codes(request: HttpRequest) -> HttpResponse:
    try:
        codes = two_factor.regenerate_backup_codes(request=request)
    except two_factor.TwoFactorError as error:
        messages.error(request, str(error))
        return redirect("accounts:my_account")
    request.session[BACKUP_CODES_SESSION_KEY] = codes
    messages.success(request, "New backup codes made; the old ones no longer work.")
    return redirect("accounts:backup_codes")


@login_required
@require_POST
def remove_device(request: HttpRequest, device_id: int) -> HttpResponse:
    try:
        two_factor.remove_totp_device(request=request, device_id=device_id)
    except two_factor.TwoFactorError as error:
        messages.error(request, str(error))
        return redirect("accounts:my_account")
    messages.success(request, "The authenticator app was removed.")
    return redirect("accounts:my_account")


# --- My Account ---------------------------------------------------------------------------


@never_cache
@login_required
def my_account(request: HttpRequest) -> HttpResponse:
    user: User = request.user
    context = {
        "devices": two_factor.confirmed_totp_devices(user=user),
        "backup_codes_left": two_factor.remaining_backup_codes(user=user),
        "required": user.requires_two_factor,
        "applications": granted_applications(user=user),
    }
    return render(request, "accounts/my_account.html", context)


@sensitive_post_parameters()
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    form = ChangePasswordForm(request.user, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            user = form.save()
            update_session_auth_hash(request, user)  # keep this session, end the others
            auth_services.record_password_change(user=user, request=request)
            messages.success(request, "Your password was changed.")
            return redirect("accounts:my_account")
        status = 400
    return render(request, "accounts/password_change.html", {"form": form}, status=status)


# --- Forgot password ----------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def password_reset_request(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            auth_services.request_password_reset(email=form.cleaned_data["email"], request=request)
            return redirect("accounts:password_reset_sent")
        return render(request, "accounts/password_reset_request.html", {"form": form}, status=400)
    return render(request, "accounts/password_reset_request.html", {"form": form})


def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/password_reset_sent.html",
        {"valid_for": auth_services.describe_wait(settings.PASSWORD_RESET_TIMEOUT)},
    )


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view (single use, expiry, token kept out of the Referer) with our pages."""

    form_class = NewPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def dispatch(self, *args, **kwargs):
        response = super().dispatch(*args, **kwargs)
        if not self.validlink and response.status_code == 200:
            response.status_code = 400
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        auth_services.record_password_reset(user=self.user, request=self.request)
        return response

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response


def password_reset_complete(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_complete.html")
