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
