"""Logging in and out, lockout after repeated failures, password reset and change.

Business logic for the authentication pages; the views only translate HTTP. Every
outcome that matters for security lands in the audit log:

``auth.login``, ``auth.login_failed``, ``auth.logout``, ``account.locked``, ``account.unlocked``,
``auth.ip_locked``, ``auth.password_reset_requested``, ``auth.password_reset_throttled``,
``auth.password_reset``, ``auth.password_changed``.

Lockout: ``LOGIN_FAILURE_LIMIT`` failures for one e-mail address within
``LOGIN_FAILURE_WINDOW_SECONDS`` (default: ``LOGIN_LOCKOUT_SECONDS``) lock that address
for ``LOGIN_LOCKOUT_SECONDS``; ``LOGIN_IP_FAILURE_LIMIT`` failures (default: four times
the account limit) from one client address lock that address the same way. Counts
live in the database (``LoginThrottle``) so all processes share them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.accounts.models import LoginThrottle, Role, User
from apps.audit.services import client_ip, record_event

logger = logging.getLogger(__name__)

UNKNOWN_IP = "unknown"


# --- Lockout ------------------------------------------------------------------------------


def normalize_email(value: str) -> str:
    return (value or "").strip().lower()


def failure_limit() -> int:
    return settings.LOGIN_FAILURE_LIMIT


def ip_failure_limit() -> int:
    return settings.LOGIN_IP_FAILURE_LIMIT


def failure_window() -> timedelta:
    seconds = settings.LOGIN_FAILURE_WINDOW_SECONDS
    return timedelta(seconds=seconds)


def lockout_period() -> timedelta:
    return timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def _ip_key(request: HttpRequest | None) -> str:
    return client_ip(request) or UNKNOWN_IP


def lockout_remaining(*, email: str, ip: str) -> int:
    """Seconds until log-in is allowed again for this address/IP pair; 0 when allowed."""
    now = timezone.now()
    latest = (
        LoginThrottle.objects.filter(locked_until__gt=now)
        .filter(
            Q(scope=LoginThrottle.Scope.ACCOUNT, key=normalize_email(email))
            | Q(scope=LoginThrottle.Scope.IP, key=ip)
        )
        .aggregate(latest=Max("locked_until"))["latest"]
    )
    if latest is None:
        return 0
    return max(1, math.ceil((latest - now).total_seconds()))


def lockout_remaining_for(*, email: str, request: HttpRequest | None) -> int:
    return lockout_remaining(email=email, ip=_ip_key(request))


def _register_failure(*, scope: str, key: str, limit: int) -> LoginThrottle | None:
    """Count one failure; return the row when this failure locked the key."""
    now = timezone.now()
    with transaction.atomic():
        row, created = LoginThrottle.objects.select_for_update().get_or_create(
            scope=scope, key=key, defaults={"window_started_at": now}
        )
        if created:
            purge_stale_login_throttles()
        if row.locked_until and row.locked_until > now:
            return None  # already locked: refusing again does not extend the lock
        window_over = row.window_started_at + failure_window() <= now
        if window_over or row.locked_until is not None:
            row.failures = 0
            row.window_started_at = now
            row.locked_until = None
        row.failures += 1
        locked = row.failures >= limit
        if locked:
            row.locked_until = now + lockout_period()
        row.save()
    return row if locked else None


def register_login_failure(*, email: str, request: HttpRequest | None, reason: str) -> int:
    """Count a failed attempt for the address and the client IP; audit it and any lockout.

    Returns the seconds of lockout now in force (0 when none).
    """
    email = normalize_email(email)
    ip = _ip_key(request)
    user = User.objects.filter(email__iexact=email).select_related("agency").first()
    agency = user.agency if user else None
    record_event(
        action="auth.login_failed",
        actor=None,
        agency=agency,
        target=user,
        target_label=email,
        request=request,
        details={"email": email, "reason": reason},
    )
    account_row = _register_failure(
        scope=LoginThrottle.Scope.ACCOUNT, key=email, limit=failure_limit()
    )
    if account_row is not None:
        record_event(
            action="account.locked",
            actor=None,
            agency=agency,
            target=user,
            target_label=email,
            request=request,
            details={
                "email": email,
                "failures": account_row.failures,
                "locked_until": account_row.locked_until.isoformat(),
            },
        )
    ip_row = _register_failure(scope=LoginThrottle.Scope.IP, key=ip, limit=ip_failure_limit())
    if ip_row is not None:
        record_event(
            action="auth.ip_locked",
            actor=None,
            agency=None,
            target_label=ip,
            request=request,
            details={
                "ip": ip,
                "failures": ip_row.failures,
                "locked_until": ip_row.locked_until.isoformat(),
            },
        )
    return lockout_remaining(email=email, ip=ip)


def clear_login_failures(*, email: str) -> None:
    LoginThrottle.objects.filter(
        scope=LoginThrottle.Scope.ACCOUNT, key=normalize_email(email)
    ).delete()


def unlock_account(*, user: User, actor: User, request: HttpRequest | None = None) -> bool:
    """Lift a lockout early (review-center staff). Returns whether one was in force."""
    now = timezone.now()
    rows = LoginThrottle.objects.filter(
        scope=LoginThrottle.Scope.ACCOUNT, key=normalize_email(user.email)
    )
    was_locked = rows.filter(locked_until__gt=now).exists()
    rows.delete()
    record_event(
        action="account.unlocked",
        actor=actor,
        agency=user.agency,
        target=user,
        request=request,
        details={"was_locked": was_locked},
    )
    return was_locked


def purge_stale_login_throttles() -> int:
    """Delete counters whose window and lock are over.

    Called whenever a new counter row is created, so the table stays small without a
    periodic task.
    """
    now = timezone.now()
    login_cutoff = now - max(failure_window(), lockout_period())
    deleted, _ = (
        LoginThrottle.objects.filter(
            Q(
                scope__in=[LoginThrottle.Scope.ACCOUNT, LoginThrottle.Scope.IP],
                window_started_at__lt=login_cutoff,
            )
            | Q(
                scope=LoginThrottle.Scope.RESET_MAIL,
                window_started_at__lt=now - reset_mail_window(),
            )
        )
        .exclude(locked_until__gt=now)
        .delete()
    )
    return deleted


# --- Log in / out -------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None = None
    locked_seconds: int = 0

    @property
    def succeeded(self) -> bool:
        return self.user is not None


def attempt_login(*, request: HttpRequest, email: str, password: str) -> LoginOutcome:
    """Check lockout, verify the password and start the session.

    The second factor, when needed, is asked for afterwards (the middleware keeps an
    unverified session away from everything else).
    """
    email = normalize_email(email)
    remaining = lockout_remaining(email=email, ip=_ip_key(request))
    if remaining:
        user = User.objects.filter(email__iexact=email).select_related("agency").first()
        record_event(
            action="auth.login_failed",
            agency=user.agency if user else None,
            target=user,
            target_label=email,
            request=request,
            details={"email": email, "reason": "locked"},
        )
        return LoginOutcome(locked_seconds=remaining)

    user = authenticate(request, username=email, password=password)
    if user is None:
        return LoginOutcome(
            locked_seconds=register_login_failure(
                email=email, request=request, reason="bad_credentials"
            )
        )

    clear_login_failures(email=email)
    login(request, user)
    record_event(
        action="auth.login",
        actor=user,
        agency=user.agency,
        target=user,
        request=request,
        details={"step": "password"},
    )
    return LoginOutcome(user=user)


def log_out(*, request: HttpRequest) -> None:
    user = request.user
    if user.is_authenticated:
        record_event(
            action="auth.logout", actor=user, agency=user.agency, target=user, request=request
        )
    logout(request)


def describe_wait(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# --- Password reset and change ------------------------------------------------------------


def password_reset_url(*, user: User) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("accounts:password_reset_confirm", kwargs={"uidb64": uidb64, "token": token})
    return f"{settings.SITE_URL}{path}"


def send_password_reset(
    *, user: User, request: HttpRequest | None = None, requested_by: User | None = None
) -> None:
    """E-mail ``user`` a single-use, expiring link to set a new password.

    ``requested_by`` is an agency super user sending the reset for someone else (the
    audit event then names them as the actor); ``None`` means the user asked.
    """
    context = {
        "user": user,
        "reset_url": password_reset_url(user=user),
        "valid_for": describe_wait(settings.PASSWORD_RESET_TIMEOUT),
        "site_url": settings.SITE_URL,
        "requested_by": requested_by,
    }
    subject = render_to_string("accounts/email/password_reset_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string("accounts/email/password_reset.txt", context),
        to=[user.email],
    )
    message.attach_alternative(
        render_to_string("accounts/email/password_reset.html", context), "text/html"
    )
    message.send(fail_silently=False)
    record_event(
        action="auth.password_reset_requested",
        actor=requested_by or user,
        agency=user.agency,
        target=user,
        request=request,
        details={"by": _requested_by_kind(requested_by)},
    )


def _requested_by_kind(requested_by: User | None) -> str:
    if requested_by is None:
        return "self"
    if requested_by.role == Role.AGENCY_SUPER_USER:
        return "super_user"
    return "platform_admin"


def reset_mail_limit() -> int:
    return settings.PASSWORD_RESET_MAIL_LIMIT


def reset_mail_window() -> timedelta:
    return timedelta(seconds=settings.PASSWORD_RESET_MAIL_WINDOW_SECONDS)


def _reset_mail_allowed(*, email: str) -> bool:
    """At most ``PASSWORD_RESET_MAIL_LIMIT`` self-service reset mails per address per hour."""
    now = timezone.now()
    with transaction.atomic():
        row, created = LoginThrottle.objects.select_for_update().get_or_create(
            scope=LoginThrottle.Scope.RESET_MAIL, key=email, defaults={"window_started_at": now}
        )
        if created:
            purge_stale_login_throttles()
        if row.window_started_at + reset_mail_window() <= now:
            row.failures = 0
            row.window_started_at = now
        if row.failures >= reset_mail_limit():
            return False
        row.failures += 1
        row.save()
    return True


def request_password_reset(*, email: str, request: HttpRequest) -> None:
    """Send a reset link if an active account has this address; silent otherwise.

    The caller shows the same page either way, so the form reveals nothing about which
    addresses are registered. Mail failures are logged, not shown, for the same reason.
    More than ``PASSWORD_RESET_MAIL_LIMIT`` requests an hour for one address send nothing
    more (audited as ``auth.password_reset_throttled``), so the form cannot flood a mailbox.

    An invited account that has not chosen a password yet (its invitation link expired
    or got lost) gets a link too: the link sets its first password, as the invitation's
    would have.
    """
    email = normalize_email(email)
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None:
        record_event(
            action="auth.password_reset_requested",
            target_label=email,
            request=request,
            details={"email": email, "account": "none"},
        )
        return
    if not _reset_mail_allowed(email=email):
        record_event(
            action="auth.password_reset_throttled",
            agency=user.agency,
            target=user,
            request=request,
            details={"limit": reset_mail_limit()},
        )
        return
    try:
        send_password_reset(user=user, request=request)
    except Exception:  # the page must look the same; operators see the log
        logger.exception("Could not send the password reset e-mail to user %s", user.pk)


def record_password_reset(*, user: User, request: HttpRequest) -> None:
    """After a reset link set a new password: unlock the account and audit it."""
    clear_login_failures(email=user.email)
    record_event(
        action="auth.password_reset", actor=user, agency=user.agency, target=user, request=request
    )


def record_password_change(*, user: User, request: HttpRequest) -> None:
    record_event(
        action="auth.password_changed",
        actor=user,
        agency=user.agency,
        target=user,
        request=request,
    )
