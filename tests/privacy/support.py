"""Incidents of every status with shots, pulses and clips, through the real services where
there are services (review decisions), stored directly otherwise (as the pipeline would)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from apps.incidents.models import AudioClip, Incident
from apps.review import services as review
from apps.sensors.models import SensorPulse
from tests.portal.support import add_clip, reviewer
from tests.review.support import add_shot, make_incident

_serials = itertools.count(1)


def incident_with_shot(*, area, sensors, status: str, at: dt.datetime | None = None) -> Incident:
    """An incident (as the pipeline leaves it) whose one shot was heard by ``sensors``."""
    incident = make_incident(area=area, status=status)
    if at is not None:
        Incident.objects.filter(pk=incident.pk).update(
            first_shot_at=at, last_shot_at=at, detected_at=at + dt.timedelta(seconds=5)
        )
        incident.refresh_from_db()
    add_shot(incident=incident, sensors=sensors, emitted_at=incident.first_shot_at)
    return incident


def clip_for(incident: Incident) -> AudioClip:
    return add_clip(incident, serial=f"PRIV-{next(_serials):05d}")


def decide(incident: Incident, *, gunfire: bool) -> Incident:
    """Claim and decide through the review center's services (gunfire publishes)."""
    staff = reviewer()
    review.claim(reviewer=staff, incident_id=incident.pk)
    if gunfire:
        review.decide(reviewer=staff, incident_id=incident.pk, decision="single_gunshot", rounds=1)
    else:
        review.decide(
            reviewer=staff,
            incident_id=incident.pk,
            decision="not_gunfire",
            rounds=1,
            not_gunfire_reason="firecracker",
        )
    incident.refresh_from_db()
    return incident


def orphan_pulse(*, sensor, at: dt.datetime) -> SensorPulse:
    """A pulse no shot took (a single sensor's bang)."""
    return SensorPulse.objects.create(
        pulse_uuid=uuid.uuid4(),
        sensor=sensor,
        coverage_area=sensor.coverage_area,
        latitude=sensor.latitude,
        longitude=sensor.longitude,
        elevation_m=sensor.elevation_m,
        position_error_m=1.0,
        arrival_time=at,
        arrival_epoch_s=at.timestamp(),
        power_db_spl=100.0,
        snr_db=20.0,
        received_at=at,
        processed_at=at,
    )


def pulse_ids_of(incident: Incident) -> set[int]:
    return set(
        SensorPulse.objects.filter(shot_pulse__shot__incident=incident).values_list("pk", flat=True)
    )


def media_file(clip: AudioClip) -> Path:
    return Path(settings.MEDIA_ROOT) / clip.file.name


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def investigation_with_clips(*, agency, serials: tuple[str, ...], closing: str | None):
    """An investigation request of ``agency`` (which needs ``tests.investigations.support.
    agency_area``) taken through the real services to one stored clip per sensor in
    ``serials`` (150 m apart), then closed: ``"complete"``, ``"decline"``, ``"cancel"`` (by
    the filer) or left open (None). Returns the request."""
    from apps.investigations import services as investigations
    from tests.incidents.support import wav_bytes as sensor_wav
    from tests.investigations.support import file_request, officer, sensor_at, verified_reviewer

    filer = officer(agency)
    staff = verified_reviewer()
    when = timezone.now() - dt.timedelta(hours=2)
    sensors = [
        sensor_at(agency, serial, north=150 * (k + 1))[0] for k, serial in enumerate(serials)
    ]
    investigation = file_request(filer, occurred_at=when)
    investigations.investigation_search(investigation_id=investigation.pk, reviewer=staff)
    requests = investigations.investigation_audio_request(
        investigation_id=investigation.pk,
        reviewer=staff,
        sensor_ids=[s.pk for s in sensors],
        source_start=when - dt.timedelta(seconds=1),
        duration_s=3.0,
    )
    for request in requests:
        investigations.investigation_clip_store(
            sensor=request.sensor,
            request_id=request.pk,
            body=sensor_wav(seconds=2.5),
            start_time=request.window_start,
        )
    if closing == "complete":
        investigations.investigation_complete(
            investigation_id=investigation.pk, reviewer=staff, findings="Gunfire on the clips."
        )
    elif closing == "decline":
        investigations.investigation_decline(
            investigation_id=investigation.pk, reviewer=staff, reason="A car backfiring only."
        )
    elif closing == "cancel":
        investigations.investigation_cancel(investigation_id=investigation.pk, user=filer)
    investigation.refresh_from_db()
    return investigation
