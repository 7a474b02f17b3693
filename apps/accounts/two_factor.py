"""Two-factor login with django-otp: TOTP authenticator apps plus single-use backup codes.

Who must use it: see ``User.requires_two_factor`` (IRC reviewers, agency super users,
platform administrators, and police users whose agency asks for it). A user who
enrolled a device voluntarily is asked for a code too, otherwise the device would
protect nothing.

Audit actions: ``auth.two_factor_verified``, ``auth.two_factor_failed``,
``two_factor.device_added``, ``two_factor.device_removed``,
``two_factor.backup_codes_generated``.
"""

from __future__ import annotations

import base64
import time
from base64 import b32encode
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.db import transaction
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import auth_services
from apps.accounts.models import User
from apps.audit.services import record_event

BACKUP_CODE_COUNT = 10
BACKUP_DEVICE_NAME = "Backup codes"
SETUP_DEVICE_NAME = "Authenticator app"


class TwoFactorError(Exception):
    """A 2FA change that is not allowed; the message is meant for the user."""


def confirmed_totp_devices(*, user: User):
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("created_at", "id")


def backup_device(*, user: User) -> StaticDevice | None:
    return StaticDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def remaining_backup_codes(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def has_confirmed_device(*, user: User) -> bool:
    return confirmed_totp_devices(user=user).exists()


def is_verified(user: User) -> bool:
    """``user.is_verified()`` from OTPMiddleware; False on a user object set by ``login()``."""
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def needs_verification(*, user: User) -> bool:
    """True when this (logged-in) user must pass a second factor in this session."""
    if not user.is_authenticated or is_verified(user):
        return False
    return user.requires_two_factor or has_confirmed_device(user=user)


# --- Enrolment ----------------------------------------------------------------------------


def pending_totp_device(*, user: User) -> TOTPDevice:
    """The unconfirmed device being enrolled; created on first use, reused on reloads."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=SETUP_DEVICE_NAME, confirmed=False)
    return device


def secret_for_manual_entry(*, device: TOTPDevice) -> str:
    """The key in base32, grouped by four characters, as authenticator apps ask for it."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_data_uri(*, device: TOTPDevice) -> str:
    """An SVG QR code of the otpauth:// URL, as a data: URI for an <img> (CSP allows it)."""
    image = qrcode.make(
        device.config_url,
        image_factory=qrcode.image.svg.SvgPathImage,
        box_size=8,
        border=2,
    )
    svg = image.to_string(encoding="utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _new_backup_codes(*, user: User) -> list[str]:
    # Keep the device (a session verified with a backup code stays verified), replace
    # its codes.
    device = backup_device(user=user)
    if device is None:
        device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    StaticToken.objects.filter(device__user=user).delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def confirm_totp_enrolment(
    *, request: HttpRequest, device: TOTPDevice, code: str, name: str = ""
) -> list[str] | None:
    """Confirm ``device`` with a code from the app; on success the session is verified.

    Returns fresh backup codes when this is the user's first device (and ``[]`` when
    the user already had codes), or ``None`` when the code was wrong. Raises
    ``TwoFactorError`` while django-otp's back-off after wrong codes is running.
    """
    user = request.user
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        if device.confirmed:
            return None
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            raise TwoFactorError("Too many wrong codes in a row. Wait a few seconds and retry.")
        if not device.verify_token(normalize_code(code)):
            return None
        device.confirmed = True
        if name:
            device.name = name[:64]
        device.save()
        codes: list[str] = []
        if backup_device(user=user) is None:
            codes = _new_backup_codes(user=user)
    otp_login(request, device)
    request.session.cycle_key()
    record_event(
        action="two_factor.device_added",
        actor=user,
        agency=user.agency,
        target=user,
        request=request,
        details={"device": device.name, "kind": "totp"},
    )
    if codes:
        record_event(
            action="two_factor.backup_codes_generated",
            actor=user,
            agency=user.agency,
            target=user,
            request=request,
            details={"count": len(codes)},
        )
    return codes


# --- Log-in step 2 -------------------------------------------------------------------------------


def normalize_code(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


@dataclass(frozen=True)
class VerifyOutcome:
    device: Device | None = None
    throttled: bool = False
    reused: bool = False  # the current code, but it was already used for a log-in

    @property
    def succeeded(self) -> bool:
        return self.device is not None


def _was_already_used(*, device: TOTPDevice, token: str) -> bool:
    """Whether ``token`` is a code ``device`` shows now but that was accepted before.

    django-otp refuses every time step up to the last one used (no replays), so a second
    log-in within the same 30 s step fails although the phone shows a valid code. Such a
    code is no guess: it is not tried (which would slow the device down) and does not
    count towards the lockout.
    """
    if device.last_t < 0:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    for offset in range(-device.tolerance, device.tolerance + 1):
        totp.drift = device.drift + offset
        if totp.t() <= device.last_t and totp.token() == int(token):
            return True
    return False


def verify_second_factor(*, request: HttpRequest, code: str) -> VerifyOutcome:
    """Check a TOTP code or a backup code (which is then used up) for ``request.user``.

    On success the session is marked verified (and gets a new key).
    """
    user = request.user
    token = normalize_code(code)
    # Six digits go to the authenticator apps, anything else is a backup code (eight
    # letters/digits): a code never counts as a failure against the other kind.
    devices: list[Device]
    if token.isdigit() and len(token) == 6:
        devices = list(confirmed_totp_devices(user=user))
    else:
        backup = backup_device(user=user)
        devices = [backup] if backup is not None else []
    throttled = False
    reused = False
    matched: Device | None = None
    if token:
        with transaction.atomic():
            for device in devices:
                locked = type(device).objects.select_for_update().get(pk=device.pk)
                allowed, _ = locked.verify_is_allowed()
                if not allowed:
                    throttled = True
                    continue
                if isinstance(locked, TOTPDevice) and _was_already_used(device=locked, token=token):
                    reused = True
                    continue
                if locked.verify_token(token):
                    matched = locked
                    break
    if matched is None:
        record_event(
            action="auth.two_factor_failed",
            actor=user,
            agency=user.agency,
            target=user,
            request=request,
            details={"throttled": throttled, "reused": reused},
        )
        return VerifyOutcome(throttled=throttled, reused=reused)
    otp_login(request, matched)
    request.session.cycle_key()
    record_event(
        action="auth.two_factor_verified",
        actor=user,
        agency=user.agency,
        target=user,
        request=request,
        details={"method": "backup_code" if isinstance(matched, StaticDevice) else "totp"},
    )
    return VerifyOutcome(device=matched)


@dataclass(frozen=True)
class SecondStepOutcome:
    verified: bool = False
    throttled: bool = False
    reused: bool = False
    locked_seconds: int = 0  # > 0: the account or IP is locked and the session was ended


def complete_login_second_step(*, request: HttpRequest, code: str) -> SecondStepOutcome:
    """Log-in step 2. Wrong codes count towards the account lockout like wrong passwords
    (a code already used in this 30 s step does not: it is the right code, too late);
    when the account (or client IP) is locked the half-finished session is ended.
    """
    email = request.user.email
    remaining = auth_services.lockout_remaining_for(email=email, request=request)
    if remaining:
        auth_services.log_out(request=request)
        return SecondStepOutcome(locked_seconds=remaining)
    outcome = verify_second_factor(request=request, code=code)
    if outcome.succeeded:
        return SecondStepOutcome(verified=True)
    if outcome.reused:
        return SecondStepOutcome(reused=True)
    locked = auth_services.register_login_failure(
        email=email, request=request, reason="bad_second_factor"
    )
    if locked:
        auth_services.log_out(request=request)
        return SecondStepOutcome(locked_seconds=locked)
    return SecondStepOutcome(throttled=outcome.throttled, reused=outcome.reused)


# --- Managing devices ---------------------------------------------------------------------


def regenerate_backup_codes(*, request: HttpRequest) -> list[str]:
    """Replace all backup codes of ``request.user``; old ones stop working at once."""
    user = request.user
    if not has_confirmed_device(user=user):
        raise TwoFactorError("Set up an authenticator app first; backup codes go with it.")
    with transaction.atomic():
        codes = _new_backup_codes(user=user)
    record_event(
        action="two_factor.backup_codes_generated",
        actor=user,
        agency=user.agency,
        target=user,
        request=request,
        details={"count": len(codes)},
    )
    return codes


def remove_totp_device(*, request: HttpRequest, device_id: int) -> None:
    """Remove one authenticator app of ``request.user``.

    Refused for the last one when the user must use two-factor login. Removing the
    last one otherwise also removes the backup codes.
    """
    user = request.user
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(pk=device_id, user=user).first()
        if device is None:
            raise TwoFactorError("That device does not exist.")
        others = confirmed_totp_devices(user=user).exclude(pk=device.pk)
        if device.confirmed and not others.exists() and user.requires_two_factor:
            raise TwoFactorError(
                "Your account must use two-factor login, so you cannot remove your only "
                "authenticator app. Add another one first."
            )
        name = device.name
        was_session_device = getattr(user, "otp_device", None) == device
        device.delete()
        remaining = others.first()
        if remaining is None:
            StaticDevice.objects.filter(user=user).delete()
        elif was_session_device:
            otp_login(request, remaining)  # keep the session verified
    record_event(
        action="two_factor.device_removed",
        actor=user,
        agency=user.agency,
        target=user,
        request=request,
        details={"device": name, "kind": "totp"},
    )


def reset_two_factor(*, user: User, actor: User, request: HttpRequest | None = None) -> int:
    """Remove all of ``user``'s devices and backup codes (lost phone), by someone else.

    Users who must use two-factor login enrol again at their next log-in. Returns the
    number of devices removed. Callers check that ``actor`` may manage ``user``.
    """
    if actor.pk == user.pk:
        raise TwoFactorError("Use My Account to change your own two-factor login.")
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    record_event(
        action="two_factor.reset",
        actor=actor,
        agency=user.agency,
        target=user,
        request=request,
        details={"devices_removed": removed},
    )
    return removed
