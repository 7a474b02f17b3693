"""Playback of stored audio evidence: authorise (POST, audited), then fetch by token (GET).

Thin: permissions, auditing and tokens are in ``apps.evidence.selectors`` / ``services``.
Nothing here lists clips; the pages that show an incident link its clips' play buttons.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.problems import problem_response
from apps.evidence import selectors, services


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _problem(error: services.PlaybackError) -> HttpResponse:
    response = problem_response(status=error.status, title=error.title, detail=str(error))
    if isinstance(error, services.RangeNotSatisfiable):
        response["Content-Range"] = f"bytes */{error.size}"
    return _no_store(response)


@require_POST
def clip_playback(request: HttpRequest, clip_id: int) -> HttpResponse:
    """Press play on an incident clip: one audited playback; answers where to fetch it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    clip = selectors.playable_incident_clip_get(user=request.user, clip_id=clip_id)
    return _authorize(request, clip)


@require_POST
def kind_clip_playback(request: HttpRequest, kind: str, clip_id: int) -> HttpResponse:
    """Press play on a clip of another registered kind (e.g. ``investigation``): the same
    audited playback; who may play it is the rule the kind registered."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    clip = services.registered_clip_get(slug=kind, clip_id=clip_id)
    return _authorize(request, clip)


def _authorize(request: HttpRequest, clip) -> HttpResponse:
    if clip is None:
        return _problem(services.ClipNotPlayable("No such clip."))
    try:
        ticket = services.clip_playback_authorize(
            user=request.user,
            clip=clip,
            session_key=request.session.session_key or "",
            request=request,
        )
    except services.PlaybackError as error:
        return _problem(error)
    url = reverse("evidence:playback_stream", args=[ticket.token])
    return _no_store(JsonResponse({"url": url, "expires_at": ticket.grant.expires_at.isoformat()}))


@require_GET
def playback_stream(request: HttpRequest, token: str) -> HttpResponse:
    """The bytes of an authorised playback, with Range support; never cached."""
    if not request.user.is_authenticated:
        return _problem(services.ClipNotPlayable("No such playback."))
    try:
        piece = services.playback_fetch(
            token=token,
            user=request.user,
            session_key=request.session.session_key or "",
            range_header=request.headers.get("Range", ""),
            request=request,
        )
    except services.PlaybackError as error:
        return _problem(error)
    response = HttpResponse(piece.data, status=206 if piece.partial else 200)
    response["Content-Type"] = "audio/wav"
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = "inline"
    if piece.partial:
        response["Content-Range"] = f"bytes {piece.first}-{piece.last}/{piece.size}"
    return _no_store(response)
