"""Polling fallback of the websocket streams: ``GET /live/<stream>/events?after=<id>``.

Browsers whose websocket cannot connect (a proxy without websocket support, a dropped
route) ask here every few seconds. The read is the websocket catch-up's own
(``selectors.visible_events_after``): same permission check per request, same agency.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from apps.core.problems import problem_response
from apps.realtime import selectors
from apps.realtime.models import Audience

# Largest value a PostgreSQL bigint id can have.
MAX_EVENT_ID = 2**63 - 1


def _events(request: HttpRequest, *, audience: str) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        response = problem_response(status=405, title="Method not allowed", detail="Use GET.")
        response["Allow"] = "GET, HEAD"
        return response
    raw = request.GET.get("after")
    if raw is None or not raw.isascii() or not raw.isdigit() or int(raw) > MAX_EVENT_ID:
        return problem_response(
            status=400,
            title="Invalid after",
            detail="'after' must be the id of the last event seen: a whole number >= 0.",
        )
    user = request.user
    if not user.is_authenticated:
        return problem_response(
            status=401, title="Not logged in", detail="Log in again to receive live updates."
        )
    events = selectors.visible_events_after(user=user, audience=audience, after_id=int(raw))
    if events is None:
        return problem_response(
            status=403,
            title="No live updates for this account",
            detail="This account may not receive this stream.",
        )
    response = JsonResponse(
        {
            "events": [{"type": "event", **event.as_message()} for event in events],
            # A full page: ask again at once for the rest.
            "more": len(events) == selectors.CATCH_UP_LIMIT,
        }
    )
    response["Cache-Control"] = "private, no-store"
    return response


def agency_events(request: HttpRequest) -> JsonResponse:
    return _events(request, audience=Audience.AGENCY)


def review_events(request: HttpRequest) -> JsonResponse:
    return _events(request, audience=Audience.REVIEW)
