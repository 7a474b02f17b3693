import sys

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_safe

from apps.accounts.access import APPLICATION_SUMMARIES, granted_applications
from apps.accounts.models import Application
from apps.core.unavailable import database_unavailable_response, is_database_unavailable

# Where each application lives (the portal and the Briefing Room apps serve them).
APPLICATION_URL_NAMES = {
    Application.ALERT_CONSOLE: "portal:console",
    Application.INVESTIGATOR_PORTAL: "portal:investigator",
    Application.BRIEFING_ROOM: "briefing:index",
    Application.SIREN: "portal:siren",
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    granted = set(granted_applications(user=user))
    applications = [
        {
            "code": app.value,
            "label": app.label,
            "granted": app in granted,
            "url_name": APPLICATION_URL_NAMES[app],
            "summary": APPLICATION_SUMMARIES[app],
        }
        for app in Application
    ]
    return render(
        request,
        "core/home.html",
        {"applications": applications, "is_staff_role": user.is_irc_reviewer},
    )


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and crawlers ask for /favicon.ico whatever a page links: the SVG icon."""
    return redirect(static("favicon.svg"))


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        from apps.core.problems import problem_response

        return problem_response(status=status, title=title, detail=message)
    return render(
        request,
        "core/error.html",
        {"title": title, "message": message, "status": status},
        status=status,
    )


def forbidden(request: HttpRequest, *, message: str, title: str = "No access") -> HttpResponse:
    return _error(request, 403, title, message)


def bad_request(request, exception=None):
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request, exception=None):
    # The reason the code gave (e.g. "Agency administration is for agency super users.")
    # tells the user what to ask for; our PermissionDenied messages are written for them.
    reason = str(exception or "").strip()
    return _error(request, 403, "No access", reason or "You do not have permission to do that.")


def page_not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing here, or you may not see it.")


def server_error(request):
    # Django calls this while handling the exception, so sys.exc_info() holds it. An
    # outage met in a middleware (the session and user lookup) ends up here.
    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        return database_unavailable_response(request, exc)
    return _error(request, 500, "Server error", "Something went wrong on our side.")
