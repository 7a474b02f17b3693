"""Agency user management and the agency's audit log, for agency super users.

Every page is for a logged-in, two-factor-verified agency super user, and every lookup
is scoped to their agency, so another agency's accounts are simply not found (404).
Writes go through ``apps.accounts.services``; invalid input re-renders with status 400.
"""

from __future__ import annotations

import json
import zoneinfo
from functools import partial, wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts import services
from apps.accounts.management_forms import (
    AgencyUserCreateForm,
    AgencyUserEditForm,
    ApplicationAccessForm,
    AuditFilterForm,
)
from apps.accounts.models import Application, Role, User
from apps.accounts.selectors import agency_users, granted_applications, lockouts_until
from apps.audit.labels import action_label, actor_label, local_time, token_read_summary
from apps.audit.selectors import agency_event_actions, agency_events

AUDIT_PAGE_SIZE = 50
# Details up to this many characters of JSON show on one line; longer ones fold away.
AUDIT_DETAILS_INLINE_CHARS = 90


def agency_super_user_required(view):
    """Logged in (else to the login page), agency super user and two-factor verified
    (else 403)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.role == Role.AGENCY_SUPER_USER and user.agency_id):
            raise PermissionDenied("Agency administration is for agency super users.")
        is_verified = getattr(user, "is_verified", None)
        if is_verified is None or not is_verified():
            raise PermissionDenied("Agency administration needs a two-factor login.")
        return view(request, *args, **kwargs)

    return wrapped


def _agency_user(request: HttpRequest, pk: int) -> User:
    return get_object_or_404(agency_users(agency=request.user.agency), pk=pk)


def _add_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@require_GET
@agency_super_user_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("agency_admin:users")


@require_GET
@agency_super_user_required
def user_list(request: HttpRequest) -> HttpResponse:
    labels = dict(Application.choices)
    users = list(agency_users(agency=request.user.agency))
    locked = lockouts_until(users=users)
    rows = [
        {
            "user": u,
            "applications": [labels[code] for code in granted_applications(user=u)],
            "locked_until": locked.get(u.pk),
        }
        for u in users
    ]
    return render(request, "agency/user_list.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@agency_super_user_required
def user_add(request: HttpRequest) -> HttpResponse:
    form = AgencyUserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.create_agency_user(
                actor=request.user,
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                role=form.cleaned_data["role"],
                applications=form.cleaned_data["applications"],
                send_invitation=form.cleaned_data["send_invitation"],
                request=request,
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Added {user.email}.")
            return redirect("agency_admin:user_detail", pk=user.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "agency/user_add.html", {"form": form}, status=status)


def _detail_page(
    request: HttpRequest,
    user: User,
    *,
    edit_form: AgencyUserEditForm | None = None,
    access_form: ApplicationAccessForm | None = None,
    action_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    edit_form = edit_form or AgencyUserEditForm(
        initial={"full_name": user.full_name, "role": user.role}
    )
    access_form = access_form or ApplicationAccessForm(
        initial={"applications": granted_applications(user=user)}
    )
    context = {
        "managed": user,
        "is_self": user.pk == request.user.pk,
        "locked_until": lockouts_until(users=[user]).get(user.pk),
        "edit_form": edit_form,
        "access_form": access_form,
        "action_errors": action_errors or [],
    }
    return render(request, "agency/user_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
@agency_super_user_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agency_user(request, pk)
    if request.method == "GET":
        return _detail_page(request, user)
    form = AgencyUserEditForm(request.POST)
    if form.is_valid():
        try:
            services.update_agency_user(
                actor=request.user,
                user=user,
                full_name=form.cleaned_data["full_name"],
                role=form.cleaned_data["role"],
                request=request,
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Saved {user.email}.")
            return redirect("agency_admin:user_detail", pk=user.pk)
    user.refresh_from_db()
    return _detail_page(request, user, edit_form=form, status=400)


@require_POST
@agency_super_user_required
def user_applications(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agency_user(request, pk)
    form = ApplicationAccessForm(request.POST)
    if form.is_valid():
        try:
            services.set_application_access(
                actor=request.user,
                user=user,
                applications=form.cleaned_data["applications"],
                request=request,
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Application access of {user.email} saved.")
            return redirect("agency_admin:user_detail", pk=user.pk)
    return _detail_page(request, user, access_form=form, status=400)


def _run_action(request: HttpRequest, user: User, action, success: str) -> HttpResponse:
    try:
        action()
    except ValidationError as error:
        user.refresh_from_db()
        return _detail_page(request, user, action_errors=error.messages, status=400)
    messages.success(request, success)
    return redirect("agency_admin:user_detail", pk=user.pk)


@require_POST
@agency_super_user_required
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agency_user(request, pk)
    return _run_action(
        request,
        user,
        lambda: services.set_user_active(
            actor=request.user, user=user, active=False, request=request
        ),
        f"Deactivated {user.email}; the account can no longer log in.",
    )


@require_POST
@agency_super_user_required
def user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agency_user(request, pk)
    return _run_action(
        request,
        user,
        lambda: services.set_user_active(
            actor=request.user, user=user, active=True, request=request
        ),
        f"Reactivated {user.email}.",
    )


@require_POST
@agency_super_user_required
def user_password_reset(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agency_user(request, pk)
    return _run_action(
        request,
        user,
        lambda: services.send_password_reset(actor=request.user, user=user, request=request),
        f"Sent a password reset link to {user.email}.",
    )


@require_http_methods(["GET", "POST"])
@agency_super_user_required
def user_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agency_user(request, pk)
    if request.method == "GET":
        return render(
            request,
            "agency/user_confirm_delete.html",
            {"managed": user, "is_self": user.pk == request.user.pk},
        )
    email = user.email
    try:
        services.delete_agency_user(actor=request.user, user=user, request=request)
    except ValidationError as error:
        return render(
            request,
            "agency/user_confirm_delete.html",
            {"managed": user, "is_self": True, "action_errors": error.messages},
            status=400,
        )
    messages.success(request, f"Deleted {email}.")
    return redirect("agency_admin:users")


def _audit_changes(details) -> list[tuple[str, str, str]]:
    """(field, before, after) of each field a before/after snapshot changed, values as
    JSON, so an account change reads as one line per field instead of two full
    snapshots (the page is read at 1280 px, where the snapshots took half a screen each)."""
    if not isinstance(details, dict):
        return []
    before, after = details.get("before"), details.get("after")
    if not isinstance(before, dict | None) or not isinstance(after, dict | None):
        return []
    if before is None and after is None:
        return []
    before, after = before or {}, after or {}
    return [
        (
            name,
            json.dumps(before[name], default=str) if name in before else "—",
            json.dumps(after[name], default=str) if name in after else "—",
        )
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


@require_GET
@agency_super_user_required
def audit_log(request: HttpRequest) -> HttpResponse:
    agency = request.user.agency
    zone = zoneinfo.ZoneInfo(agency.time_zone)

    form = AuditFilterForm(request.GET or None, actions=agency_event_actions(agency=agency))
    status = 200
    if not request.GET:
        events = agency_events(agency=agency)
    elif form.is_valid():
        events = agency_events(
            agency=agency,
            action=form.cleaned_data["action"],
            actor=form.cleaned_data["actor"],
            date_from=form.cleaned_data["date_from"],
            date_to=form.cleaned_data["date_to"],
        )
    else:
        events = agency_events(agency=agency).none()
        status = 400
    page = Paginator(events.select_related("agency"), AUDIT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for event in page:
        event.details_json = json.dumps(event.details, indent=1, sort_keys=True, default=str)
        event.details_line = json.dumps(event.details, sort_keys=True, default=str)
        event.details_inline = len(event.details_line) <= AUDIT_DETAILS_INLINE_CHARS
        event.changes = _audit_changes(event.details)
        event.action_label = action_label(event.action)
        event.actor_label = actor_label(actor_email=event.actor_email, details=event.details)
        event.summary = token_read_summary(
            action=event.action,
            details=event.details,
            time_format=partial(local_time, zone=zone),
        )
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "agency": agency}
    return render(request, "agency/audit_log.html", context, status=status)
