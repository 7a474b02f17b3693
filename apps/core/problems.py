"""RFC 9457 problem details for every API error, so clients get one error shape."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Seconds a client is asked to wait before resending while the database is unreachable
# or busy (a PostgreSQL restart or fail-over, a SQLite write lock held past its timeout).
DATABASE_UNAVAILABLE_RETRY_AFTER_S = 5

logger = logging.getLogger("apps.core")


def problem_response(*, status: int, title: str, detail: str = "", **extra) -> JsonResponse:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def invalid_params_response(*, form, title: str = "Invalid parameters") -> JsonResponse:
    """400 naming each bad query or form parameter of ``form`` (a bound, invalid Django form).

    ``errors`` maps each parameter to its messages (errors that concern no one parameter,
    such as a period ending before it starts, under ``non_field_errors``), the same member
    the DRF API's problems carry (``problem_exception_handler``); ``detail`` says it in one
    line: "Invalid parameters: start: Enter a valid date."
    """
    errors = {
        ("non_field_errors" if name == "__all__" else name): [str(m) for m in messages]
        for name, messages in form.errors.items()
    }
    detail = "; ".join(
        " ".join(messages) if name == "non_field_errors" else f"{name}: {' '.join(messages)}"
        for name, messages in errors.items()
    )
    return problem_response(status=400, title=title, detail=detail, errors=errors)


def log_database_unavailable(exc: Exception, where: str) -> None:
    """One warning line per request the outage met (no traceback)."""
    logger.warning(
        "database unavailable during %s: %s: %s",
        where,
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
    )


def _database_unavailable_body(exc: Exception, where: str, saved: str = "") -> dict:
    """``saved``: what the request had committed before the failure ("" when unknown).

    A saved change gets ``"saved": true`` and a detail that says not to send it again
    (as the 503 page does); otherwise the client is asked to resend.
    """
    log_database_unavailable(exc, where)
    body = {"type": "about:blank", "title": "Service Unavailable", "status": 503}
    if saved:
        body["detail"] = (
            f"{saved}: saved. The database failed after the change was stored; "
            "do not send it again."
        )
        body["saved"] = True
    else:
        body["detail"] = (
            "The database is unavailable; this request may not have been stored. "
            f"Send it again in {DATABASE_UNAVAILABLE_RETRY_AFTER_S} s or later."
        )
    return body


def database_unavailable_response(exc: Exception, context) -> Response:
    """503 with Retry-After: the request may not have been stored; the client resends.

    Sensor batches are idempotent by pulse uuid, so a resend of a batch that was in fact
    committed is acknowledged as duplicates, never stored twice.
    """
    set_rollback()
    view = context.get("view")
    where = type(view).__name__ if view is not None else "an API request"
    return Response(
        _database_unavailable_body(exc, where),
        status=503,
        headers={"Retry-After": str(DATABASE_UNAVAILABLE_RETRY_AFTER_S)},
        content_type=PROBLEM_CONTENT_TYPE,
    )


def database_unavailable_problem(
    exc: Exception, *, where: str = "a request's commit", saved: str = ""
) -> JsonResponse:
    """The same 503 outside DRF's handler (e.g. the request's transaction failed to commit).

    ``saved`` names the change the request committed before the failure (see
    ``apps.core.unavailable.note_saved``).
    """
    response = JsonResponse(
        _database_unavailable_body(exc, where, saved),
        status=503,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    response["Retry-After"] = str(DATABASE_UNAVAILABLE_RETRY_AFTER_S)
    return response


def problem_exception_handler(exc, context):
    if isinstance(exc, OperationalError | InterfaceError):
        return database_unavailable_response(exc, context)
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    title = response.status_text if hasattr(response, "status_text") else "Error"
    body: dict = {"type": "about:blank", "title": title, "status": response.status_code}
    if isinstance(data, dict) and set(data) == {"detail"}:
        body["detail"] = str(data["detail"])
    else:
        body["detail"] = "The request was not valid."
        if isinstance(data, dict) and data:
            # Name what was wrong: "The request was not valid: page_size."
            body["detail"] = f"The request was not valid: {', '.join(map(str, data))}."
        body["errors"] = data
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
