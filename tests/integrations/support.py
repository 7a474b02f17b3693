"""Published / cancelled incidents as the review center leaves them."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.geo.models import Beat
from apps.incidents.models import IncidentStatus
from apps.review.models import ReviewDecision
from tests.review.support import make_incident

LIST = "/api/v1/incidents/"


def detail_url(system_id: str, number: int) -> str:
    return f"/api/v1/incidents/{system_id}/{number}"


def published(
    *,
    area,
    decision: str = "single_gunshot",
    rounds: int = 1,
    published_at: dt.datetime | None = None,
    cancelled: bool = False,
    **kwargs,
):
    published_at = published_at or timezone.now()
    kwargs.setdefault("detected_at", published_at - dt.timedelta(seconds=40))
    incident = make_incident(area=area, rounds=rounds, **kwargs)
    incident.status = IncidentStatus.DISMISSED if cancelled else IncidentStatus.PUBLISHED
    incident.published_at = published_at
    incident.beat = Beat.objects.filter(agency=area.agency).select_related("district").first()
    incident.district = incident.beat.district if incident.beat else None
    incident.save(update_fields=["status", "published_at", "beat", "district"])
    ReviewDecision.objects.create(
        incident=incident,
        decision="not_gunfire" if cancelled else decision,
        not_gunfire_reason="other" if cancelled else "",
        initial_decision=decision,
        rounds=rounds,
        detected_at=incident.detected_at,
        seconds_to_decision=40.0,
    )
    incident.refresh_from_db()
    return incident
