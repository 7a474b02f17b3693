"""Writes for agency user management, each one audited in the same transaction.

An agency super user manages the accounts of their own agency: add, edit name and role,
deactivate, reactivate, delete, send a password reset link and grant or deny each
application. Every function checks the rules itself (views are thin and forms can be
forged) and records exactly one audit event with the state before and after.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string

from apps.accounts import auth_services
from apps.accounts.models import AGENCY_ROLES, Application, ApplicationGrant, Role, User
from apps.audit.services import record_event


class AuditAction:
    USER_CREATE = "agency_user.create"
    USER_UPDATE = "agency_user.update"
    USER_DEACTIVATE = "agency_user.deactivate"
    USER_REACTIVATE = "agency_user.reactivate"
    USER_DELETE = "agency_user.delete"
    # Recorded by apps.accounts.auth_services.send_password_reset.
    USER_PASSWORD_RESET = "auth.password_reset_requested"
    USER_APPLICATIONS = "agency_user.applications_change"

    ALL = (
        USER_CREATE,
        USER_UPDATE,
        USER_DEACTIVATE,
        USER_REACTIVATE,
        USER_DELETE,
        USER_PASSWORD_RESET,
        USER_APPLICATIONS,
    )


def _require_manager(actor: User) -> None:
    if not (actor.is_active and actor.role == Role.AGENCY_SUPER_USER and actor.agency_id):
        raise PermissionDenied("Only an agency super user manages agency accounts.")


def _require_same_agency(*, actor: User, user: User) -> None:
    _require_manager(actor)
    if user.agency_id != actor.agency_id or user.role not in AGENCY_ROLES:
        raise PermissionDenied("That account does not belong to your agency.")


def _clean_role(role: str) -> str:
    if role not in [r.value for r in AGENCY_ROLES]:
        raise ValidationError(
            {"role": "An agency account is either a police user or an agency super user."}
        )
    return role


def _clean_applications(applications: Iterable[str]) -> list[str]:
    valid = {a.value for a in Application}
    chosen = set(applications)
    unknown = chosen - valid
    if unknown:
        raise ValidationError({"applications": f"Unknown application(s): {sorted(unknown)}"})
    return sorted(chosen)


def _snapshot(user: User) -> dict:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "is_active": user.is_active,
        "applications": sorted(user.application_grants.values_list("application", flat=True)),
    }


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


@transaction.atomic
def create_agency_user(
    *,
    actor: User,
    email: str,
    full_name: str = "",
    role: str = Role.POLICE_USER,
    applications: Iterable[str] = (),
    send_invitation: bool = True,
    request: HttpRequest | None = None,
) -> User:
    """Create an account in the actor's agency; it has no password until the user sets one
    through the e-mailed link (sent when ``send_invitation``)."""
    _require_manager(actor)
    email = normalize_email(email)
    validate_email(email)
    role = _clean_role(role)
    applications = _clean_applications(applications)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "An account with this e-mail address already exists."})

    user = User(email=email, full_name=full_name.strip(), role=role, agency=actor.agency)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    for application in applications:
        ApplicationGrant.objects.create(user=user, application=application, granted_by=actor)
    record_event(
        action=AuditAction.USER_CREATE,
        actor=actor,
        agency=actor.agency,
        target=user,
        request=request,
        details={"before": None, "after": _snapshot(user), "invitation_sent": send_invitation},
    )
    if send_invitation:
        # Last, so a mail server failure rolls the whole action back.
        _send_invitation(user=user)
    return user


@transaction.atomic
def update_agency_user(
    *,
    actor: User,
    user: User,
    full_name: str,
    role: str,
    request: HttpRequest | None = None,
) -> User:
    """Change name and role. Nobody becomes staff, and nobody demotes themselves."""
    _require_same_agency(actor=actor, user=user)
    role = _clean_role(role)
    if user.pk == actor.pk and role != user.role:
        raise ValidationError({"role": "You cannot change your own role."})
    before = _snapshot(user)
    user.full_name = full_name.strip()
    user.role = role
    user.full_clean(exclude=["password"])
    user.save(update_fields=["full_name", "role"])
    after = _snapshot(user)
    record_event(
        action=AuditAction.USER_UPDATE,
        actor=actor,
        agency=actor.agency,
        target=user,
        request=request,
        details={"before": before, "after": after},
    )
    return user


@transaction.atomic
def set_user_active(
    *, actor: User, user: User, active: bool, request: HttpRequest | None = None
) -> User:
    """Deactivate (the account can no longer log in) or reactivate an account."""
    _require_same_agency(actor=actor, user=user)
    if user.pk == actor.pk and not active:
        raise ValidationError("You cannot deactivate your own account.")
    if user.is_active == active:
        state = "active" if active else "deactivated"
        raise ValidationError(f"{user.email} is already {state}.")
    before = _snapshot(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    record_event(
        action=AuditAction.USER_REACTIVATE if active else AuditAction.USER_DEACTIVATE,
        actor=actor,
        agency=actor.agency,
        target=user,
        request=request,
        details={"before": before, "after": _snapshot(user)},
    )
    return user


@transaction.atomic
def delete_agency_user(*, actor: User, user: User, request: HttpRequest | None = None) -> None:
    """Delete an account of the actor's agency (never the actor's own)."""
    _require_same_agency(actor=actor, user=user)
    if user.pk == actor.pk:
        raise ValidationError("You cannot delete your own account.")
    before = _snapshot(user)
    record_event(
        action=AuditAction.USER_DELETE,
        actor=actor,
        agency=actor.agency,
        target=user,
        request=request,
        details={"before": before, "after": None},
    )
    user.delete()


@transaction.atomic
def send_password_reset(*, actor: User, user: User, request: HttpRequest | None = None) -> None:
    """E-mail the user a single-use link to choose a new password.

    The e-mail and its audit event (``auth.password_reset_requested``, actor = the super
    user) come from the log-in code, so self-service and agency resets look the same.
    """
    _require_same_agency(actor=actor, user=user)
    if not user.is_active:
        raise ValidationError("Reactivate the account before sending a password reset.")
    auth_services.send_password_reset(user=user, request=request, requested_by=actor)


@transaction.atomic
def set_application_access(
    *,
    actor: User,
    user: User,
    applications: Iterable[str],
    request: HttpRequest | None = None,
) -> User:
    """Grant exactly the given applications and deny the others."""
    _require_same_agency(actor=actor, user=user)
    wanted = set(_clean_applications(applications))
    current = set(user.application_grants.values_list("application", flat=True))
    if wanted == current:
        raise ValidationError("Nothing changed.")
    ApplicationGrant.objects.filter(user=user, application__in=current - wanted).delete()
    for application in sorted(wanted - current):
        ApplicationGrant.objects.create(user=user, application=application, granted_by=actor)
    record_event(
        action=AuditAction.USER_APPLICATIONS,
        actor=actor,
        agency=actor.agency,
        target=user,
        request=request,
        details={
            "before": sorted(current),
            "after": sorted(wanted),
            "granted": sorted(wanted - current),
            "denied": sorted(current - wanted),
        },
    )
    return user


def _send_invitation(*, user: User) -> None:
    context = {
        "user": user,
        "agency": user.agency,
        "link": auth_services.password_reset_url(user=user),
        "valid_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        "site_url": settings.SITE_URL,
    }
    subject = render_to_string("agency/email/invitation_subject.txt", context).strip()
    body = render_to_string("agency/email/invitation_body.txt", context)
    send_mail(
        subject=" ".join(subject.split()),
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
