"""The one endpoint that plays incident audio: one stored clip, audited every time.

There is no "listen" button anywhere else (privacy policy): this view serves only an
``AudioClip`` file stored for an incident (the few seconds the sensor was allowed to
upload), never anything from a sensor's buffer. Each request is one playback and writes
one ``audio.playback`` audit event naming the clip, the incident and the listener; the
incident's agency can read it in its audit log.

The page fetches the clip with a POST (CSRF-protected, so a link, a prefetch or an
``<audio src>`` can never play it) when the reviewer presses play, and plays the bytes
it got from a blob: URL; pressing play again is a new playback.

Who may play: verified review-center staff, any clip; later, users of the incident's
own agency once the incident is published (with an application grant, and with their
second factor when their agency asks for it). Everyone else gets 404, whether or not
the clip exists.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from apps.accounts.models import AGENCY_ROLES, Application
from apps.audit.services import record_event
from apps.incidents.models import AudioClip, IncidentStatus

AGENCY_AUDIO_APPLICATIONS = (
    Application.ALERT_CONSOLE,
    Application.INVESTIGATOR_PORTAL,
    Application.SIREN,
)


def _verified(user) -> bool:
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def may_play_clip(*, user, clip: AudioClip) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_irc_reviewer:
        return _verified(user)
    if user.role in AGENCY_ROLES:
        incident = clip.incident
        if user.agency_id != incident.agency_id or incident.status != IncidentStatus.PUBLISHED:
            return False
        if user.requires_two_factor and not _verified(user):
            return False
        return user.application_grants.filter(application__in=AGENCY_AUDIO_APPLICATIONS).exists()
    return False


@require_POST
def clip_playback(request: HttpRequest, clip_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    clip = AudioClip.objects.select_related("incident__agency", "sensor").filter(pk=clip_id).first()
    if clip is None or not may_play_clip(user=request.user, clip=clip):
        raise Http404("No such clip.")
    incident = clip.incident
    with clip.file.open("rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != clip.sha256:
        record_event(
            action="audio.integrity_failed",
            actor=request.user,
            agency=incident.agency,
            target=clip,
            target_label=f"{incident.reference} {clip.sensor.serial_number}",
            request=request,
            details={"incident": incident.reference, "clip": clip.pk, "sha256": clip.sha256},
        )
        return HttpResponse(
            "This clip's file does not match the checksum recorded when it was stored; "
            "it is not played. The event was logged.",
            status=409,
            content_type="text/plain; charset=utf-8",
        )
    record_event(
        action="audio.playback",
        actor=request.user,
        agency=incident.agency,
        target=clip,
        target_label=f"{incident.reference} {clip.sensor.serial_number}",
        request=request,
        details={
            "incident": incident.reference,
            "incident_id": incident.pk,
            "clip": clip.pk,
            "sensor": clip.sensor.serial_number,
            "sha256": clip.sha256,
            "duration_s": round(clip.duration_s, 3),
        },
    )
    response = HttpResponse(data, content_type="audio/wav")
    response["Cache-Control"] = "no-store"
    response["Content-Disposition"] = "inline"
    return response
