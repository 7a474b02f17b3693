"""RFC 9457 problem details for every API error, so clients get one error shape."""

from __future__ import annotations

from django.http import JsonResponse
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_response(*, status: int, title: str, detail: str = "", **extra) -> JsonResponse:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def problem_exception_handler(exc, context):
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
        body["errors"] = data
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
