"""Per-application access: who may open the Alert Console, Investigator Portal, ...

Use on views:

    @application_required(Application.ALERT_CONSOLE)
    def console(request): ...

    class IncidentView(ApplicationRequiredMixin, DetailView):
        application = Application.INVESTIGATOR_PORTAL

Anonymous visitors go to the log-in page; logged-in users without the grant get a
friendly 403 page naming the application and who can grant it. Access needs an
active agency account (police user or agency super user) with a grant: review-center
staff (IRC reviewers, platform administrators) never reach agency data this way, even
if a grant row existed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.models import AGENCY_ROLES, Application, User

APPLICATION_SUMMARIES: dict[str, str] = {
    Application.ALERT_CONSOLE: (
        "Real-time gunfire alerts for dispatch and patrol: the incident list, the map "
        "and the audio of each reviewed alert as it arrives."
    ),
    Application.INVESTIGATOR_PORTAL: (
        "Search and review past incidents: location, rounds fired, audio, reviewer "
        "notes and detailed forensic reports."
    ),
    Application.BRIEFING_ROOM: (
        "Crime analysis for briefings: incident history by district and beat, maps and "
        "trends over time."
    ),
    Application.SIREN: (
        "Incident alerts by e-mail and on the web, filtered by beat, district and time "
        "of day, and secure links to share an incident."
    ),
}


def application_label(application: str) -> str:
    return Application(application).label


def can_use_application(*, user: User, application: str) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    if user.role not in AGENCY_ROLES or user.agency_id is None:
        return False
    return user.has_application(application)


def granted_applications(*, user: User) -> list[Application]:
    """The applications this user may open, in menu order."""
    if not (user.is_authenticated and user.is_active) or user.role not in AGENCY_ROLES:
        return []
    granted = set(user.application_grants.values_list("application", flat=True))
    return [app for app in Application if app.value in granted]


def no_access_message(*, user: User, application: str) -> str:
    label = application_label(application)
    if user.role in AGENCY_ROLES:
        return f"You don't have access to the {label}. Ask your agency's super user."
    return (
        f"You don't have access to the {label}. Review-center staff do not use the "
        "agency applications."
    )


def no_access_response(request: HttpRequest, application: str) -> HttpResponse:
    return render(
        request,
        "accounts/no_access.html",
        {
            "application_label": application_label(application),
            "message": no_access_message(user=request.user, application=application),
        },
        status=403,
    )


def application_required(application: str) -> Callable:
    """View decorator: log-in plus a grant for ``application``."""
    Application(application)  # fail at import time on a typo

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not can_use_application(user=request.user, application=application):
                return no_access_response(request, application)
            return view(request, *args, **kwargs)

        wrapped.application = application
        return wrapped

    return decorator


class ApplicationRequiredMixin(LoginRequiredMixin):
    """Class-based twin of ``application_required``; set ``application``."""

    application: str = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not can_use_application(user=request.user, application=self.application):
            return no_access_response(request, self.application)
        return super().dispatch(request, *args, **kwargs)
