"""Reads on incidents and incident audio."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.incidents.models import (
    AudioRequest,
    AudioRequestStatus,
    Incident,
    IncidentStatus,
    Shot,
    ShotPulse,
)


def incident_get(*, system_id: str, number: int) -> Incident | None:
    return (
        Incident.objects.select_related("agency", "coverage_area", "beat", "district")
        .filter(agency__system_id=system_id, number=number)
        .first()
    )


def incident_list(*, agency=None, status: str | None = None) -> QuerySet[Incident]:
    qs = Incident.objects.select_related("agency", "coverage_area", "beat", "district")
    if agency is not None:
        qs = qs.filter(agency=agency)
    if status is not None:
        qs = qs.filter(status=status)
    return qs


def incidents_in_review() -> QuerySet[Incident]:
    return incident_list(status=IncidentStatus.PENDING_REVIEW).order_by("detected_at", "id")


def shot_ids_final(*, shot_ids: Collection[int]) -> set[int]:
    """Those of the shots whose incident is closed: final, no run may change them."""
    if not shot_ids:
        return set()
    return set(
        Shot.objects.filter(pk__in=list(shot_ids), incident__closed_at__isnull=False).values_list(
            "id", flat=True
        )
    )


def incident_sensor_distances(*, incident: Incident) -> QuerySet[ShotPulse]:
    """Every shot pulse of the incident with its sensor and distance (nearest first)."""
    return (
        ShotPulse.objects.filter(shot__incident=incident)
        .select_related("sensor", "shot", "pulse")
        .order_by("shot__emitted_epoch_s", "distance_m", "id")
    )


def audio_requests_pending_for_sensor(
    *, sensor, now: dt.datetime | None = None
) -> QuerySet[AudioRequest]:
    """The sensor's requests that may still be fulfilled (pending and not expired), of
    incidents that still take audio (in review or published, as ``audio_clip_store``
    checks): once an incident is decided not gunfire its sensors are no longer asked.
    Investigation requests are withdrawn when the request closes."""
    now = now or timezone.now()
    takes_audio = Q(incident__isnull=True) | Q(
        incident__status__in=[IncidentStatus.PENDING_REVIEW, IncidentStatus.PUBLISHED]
    )
    return (
        AudioRequest.objects.filter(
            takes_audio, sensor=sensor, status=AudioRequestStatus.PENDING, expires_at__gt=now
        )
        .select_related("incident__agency", "investigation__agency")
        .order_by("created_at", "id")
    )
