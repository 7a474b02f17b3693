"""Reads of the integration API: what a dispatch / CAD token may see.

Customers see reviewed alerts only: incidents the review center published (``published``)
and published alerts it later withdrew (``cancelled``: dismissed after publication).
Machine-filtered incidents and incidents still pending review are never exposed.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from apps.accounts.models import Agency
from apps.alerts.models import IncidentType
from apps.incidents.models import Incident, IncidentStatus

STATUS_PUBLISHED = "published"
STATUS_CANCELLED = "cancelled"
EXPOSED_STATUSES = (STATUS_PUBLISHED, STATUS_CANCELLED)


def exposed_status(incident: Incident) -> str:
    return STATUS_PUBLISHED if incident.status == IncidentStatus.PUBLISHED else STATUS_CANCELLED


def _status_filter(status: str) -> Q:
    if status == STATUS_PUBLISHED:
        return Q(status=IncidentStatus.PUBLISHED)
    return Q(status=IncidentStatus.DISMISSED)


def _type_filter(kind: str) -> Q:
    """The rule of ``apps.alerts.selectors.incident_type``, as a query."""
    gunfire = Q(machine_class="gunfire") | Q(machine_class="")
    machine = {
        IncidentType.POSSIBLE_GUNFIRE: ~gunfire,
        IncidentType.MULTIPLE_GUNSHOTS: gunfire & Q(rounds__gt=1),
        IncidentType.SINGLE_GUNSHOT: gunfire & Q(rounds__lte=1),
    }[IncidentType(kind)]
    return Q(review_decision__decision=kind) | (Q(review_decision__isnull=True) & machine)


def integration_incidents(
    *,
    agency: Agency,
    status: str | None = None,
    kind: str | None = None,
    since: dt.datetime | None = None,
) -> QuerySet[Incident]:
    """The agency's reviewed alerts, newest first. ``status`` defaults to published;
    ``since`` keeps those published at or after it (what a poller has not seen yet)."""
    qs = (
        Incident.objects.select_related("agency", "beat", "district", "review_decision")
        .filter(agency=agency, published_at__isnull=False)
        .filter(_status_filter(status or STATUS_PUBLISHED))
    )
    if kind:
        qs = qs.filter(_type_filter(kind))
    if since is not None:
        qs = qs.filter(published_at__gte=since)
    return qs.order_by("-first_shot_at", "-id")


def integration_incident_get(*, agency: Agency, system_id: str, number: int) -> Incident | None:
    """One of the agency's reviewed alerts (published or cancelled), or None."""
    if agency.system_id != system_id:
        return None
    return (
        Incident.objects.select_related("agency", "beat", "district", "review_decision")
        .filter(agency=agency, number=number, published_at__isnull=False)
        .filter(status__in=[IncidentStatus.PUBLISHED, IncidentStatus.DISMISSED])
        .first()
    )
