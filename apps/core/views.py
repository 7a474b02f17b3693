from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.models import Application


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    granted = set(user.application_grants.values_list("application", flat=True))
    applications = [
        {"code": app.value, "label": app.label, "granted": app.value in granted}
        for app in Application
    ]
    return render(request, "core/home.html", {"applications": applications})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


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


def bad_request(request, exception=None):
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request, exception=None):
    return _error(request, 403, "Forbidden", "You do not have permission to do that.")


def page_not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing here, or you may not see it.")


def server_error(request):
    return _error(request, 500, "Server error", "Something went wrong on our side.")
