"""OpenAPI: every API error is an RFC 9457 problem (drf-spectacular postprocessing hook).

All API errors go through ``apps.core.problems`` (DRF's exception handler and the
``/api/`` error pages), so the schema says so once, here, instead of in every view:
each documented 4xx/5xx response without a body of its own gets the ``Problem`` body
as ``application/problem+json``. Two answers no view raises itself are added here too:
503 on every operation (the database is unavailable: ``problems.database_unavailable_*``)
and 429 on the sensor API (the per-sensor rate limit, ``apps.sensors.throttling``), both
with ``Retry-After``.
"""

from __future__ import annotations

from apps.core.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "Problem details (RFC 9457). ``status`` repeats the HTTP status.",
    "properties": {
        "type": {"type": "string", "description": "Always about:blank."},
        "title": {"type": "string", "description": "The HTTP status text."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What was wrong, for a human."},
        "errors": {
            "description": (
                "Validation errors of a 400 by field, as DRF reports them: "
                "{field: [messages]}, nested for objects and lists by index."
            ),
        },
    },
    "required": ["type", "title", "status"],
}


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer"},
    }
}
SENSOR_API_PREFIX = "/api/v1/sensor/"


def problem_responses(result, generator, request, public):
    """Give every documented error response without content the Problem body."""
    for path, methods in result.get("paths", {}).items():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "503",
                {
                    "description": "The database is unavailable; send again later.",
                    "headers": RETRY_AFTER,
                },
            )
            if path.startswith(SENSOR_API_PREFIX):
                responses.setdefault(
                    "429",
                    {
                        "description": "This sensor's request rate limit is used up.",
                        "headers": RETRY_AFTER,
                    },
                )
            for code, response in responses.items():
                if code[:1] not in ("4", "5") or response.get("content"):
                    continue
                response["content"] = {
                    PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
                if not response.get("description"):
                    response["description"] = "Problem details (RFC 9457)."
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    return result
