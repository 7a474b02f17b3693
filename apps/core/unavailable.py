"""503 "Service temporarily unavailable" while the database is unreachable or busy.

A PostgreSQL restart or fail-over makes every query raise ``OperationalError`` /
``InterfaceError``; so does an embedded SQLite whose write lock stays taken past its busy
timeout ("database is locked"). The page names the likely cause for the engine in use.
The sensor API already answers those with a 503 problem (see
``apps.core.problems``); this module does the same for every other request:

- HTML pages get a plain page that says the service is temporarily unavailable and
  reloads itself after ``Retry-After`` seconds (GET and HEAD only: a form is never sent
  again on its own). It is rendered without the request, so no context processor, no
  session and no user lookup touches the database again.
- API, polling and other JSON requests get the 503 ``application/problem+json``.

Two paths lead here: ``DatabaseUnavailableMiddleware.process_exception`` for errors
raised in a view, and the project's ``handler500`` (``apps.core.views.server_error``)
for errors raised in a middleware (the session and user lookup happen in
``TwoFactorRequiredMiddleware``), which Django turns into a 500 before any outer
middleware could see the exception. Each such request is logged as one warning line
(``apps.core``), not as an error with a traceback per request.

A view whose change has committed calls ``note_saved(request, ...)``: if the request
fails after that (a middleware saving the session, the next page), the 503 says the
change was saved and must not be sent again, instead of "may not have been saved"; the
JSON problem says so too (``"saved": true`` and the same sentence in its ``detail``).
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from apps.core.problems import (
    DATABASE_UNAVAILABLE_RETRY_AFTER_S,
    database_unavailable_problem,
    log_database_unavailable,
)

DATABASE_ERRORS = (OperationalError, InterfaceError)
# Paths whose clients read JSON (the APIs and the live-update polling fallback).
JSON_PREFIXES = ("/api/", "/live/")


# Request attribute set by ``note_saved``: what the request saved before it failed.
SAVED_ATTRIBUTE = "_database_saved_before_failure"


def note_saved(request: HttpRequest, *, what: str) -> None:
    """Record that ``request``'s change ("Decision on incident 42-6") has committed."""
    setattr(request, SAVED_ATTRIBUTE, what)


def saved_before_failure(request: HttpRequest) -> str:
    return getattr(request, SAVED_ATTRIBUTE, "")


def database_cause() -> str:
    """Why the database did not answer, for the engine in use (no query)."""
    if connection.vendor == "sqlite":
        return "The database is busy with other writes right now; this usually passes in seconds."
    return (
        "The database cannot be reached right now (a restart or fail-over usually takes seconds)."
    )


def is_database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_ERRORS)


def wants_json(request: HttpRequest) -> bool:
    if request.path.startswith(JSON_PREFIXES):
        return True
    accept = request.headers.get("Accept", "")
    return "json" in accept and "text/html" not in accept


def database_unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 for ``request``, built without a database query."""
    where = f"{request.method} {request.path}"
    if wants_json(request):
        response = database_unavailable_problem(
            exc, where=where, saved=saved_before_failure(request)
        )
    else:
        log_database_unavailable(exc, where)
        retry = request.method in ("GET", "HEAD")
        html = render_to_string(  # no request: no context processors, no session, no user
            "core/unavailable.html",
            {
                "retry_after_s": DATABASE_UNAVAILABLE_RETRY_AFTER_S,
                "reload": retry,
                "cause": database_cause(),
                "saved": saved_before_failure(request),
            },
        )
        response = HttpResponse(html, status=503)
        response["Retry-After"] = str(DATABASE_UNAVAILABLE_RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    # Logged in one line above; Django's request log would add a traceback per request.
    response._has_been_logged = True
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database outage met in a view into the 503 (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            return database_unavailable_response(request, exception)
        return None
