"""Reads for the agency-side applications: incident lists, details, search and the map."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.apps import apps as django_apps
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import Application
from apps.geo.models import Beat, CoverageArea, District
from apps.incidents.models import AudioClip, Incident, IncidentStatus
from apps.portal.models import IncidentOpen
from apps.realtime.models import Audience, RealtimeEvent

# Incident types as agencies see them (the release note's "single, multiple or possible").
TYPE_SINGLE = "single"
TYPE_MULTIPLE = "multiple"
TYPE_POSSIBLE = "possible"
TYPE_LABELS = {
    TYPE_SINGLE: "Single gunshot",
    TYPE_MULTIPLE: "Multiple gunshots",
    TYPE_POSSIBLE: "Possible gunfire",
}

# The review center's decisions (apps.review.models.Decision) as agency types.
_DECISION_TYPES = {
    "single_gunshot": TYPE_SINGLE,
    "multiple_gunshots": TYPE_MULTIPLE,
    "possible_gunfire": TYPE_POSSIBLE,
}
_FLAG_LABELS = {
    "fully_automatic": "Fully automatic",
    "high_capacity": "High capacity",
    "multiple_shooters": "Multiple shooters",
}

# "Recent nearby incidents": the same list drives the panel and the map markers.
NEARBY_RADIUS_M = 1000.0
NEARBY_DAYS = 30
NEARBY_LIMIT = 25
LIST_LIMIT = 100
SEARCH_LIMIT = 500
EARTH_RADIUS_M = 6_371_008.8

# Kinds of agency events that bring new information about an open incident.
UPDATE_KINDS = (
    "incident.comment",
    "incident.reclassified",
    "incident.location_moved",
    "incident.cancelled",
)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance; the map's measuring tool uses the same formula."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _review_installed() -> bool:
    return django_apps.is_installed("apps.review")


def review_decision(incident: Incident):
    """The review center's current decision (None before the review app decides)."""
    if not _review_installed():
        return None
    try:
        return incident.review_decision
    except ObjectDoesNotExist:
        return None


def incident_type(incident: Incident) -> str:
    """Single, multiple or possible: the reviewer's decision, else the machine's view."""
    decision = review_decision(incident)
    if decision is not None and decision.decision in _DECISION_TYPES:
        return _DECISION_TYPES[decision.decision]
    if incident.machine_class and incident.machine_class != "gunfire":
        return TYPE_POSSIBLE
    return TYPE_MULTIPLE if incident.rounds > 1 else TYPE_SINGLE


def incident_type_label(incident: Incident) -> str:
    return TYPE_LABELS[incident_type(incident)]


def incident_rounds(incident: Incident) -> int:
    decision = review_decision(incident)
    return decision.rounds if decision is not None else incident.rounds


def incident_flags(incident: Incident) -> list[str]:
    decision = review_decision(incident)
    if decision is not None:
        return [label for code, label in _FLAG_LABELS.items() if getattr(decision, code, False)]
    return [label for code, label in _FLAG_LABELS.items() if getattr(incident, code, False)]


def _type_filter(kind: str) -> Q:
    """The same rule as ``incident_type``, as a query."""
    gunfire = Q(machine_class="gunfire") | Q(machine_class="")
    machine = {
        TYPE_POSSIBLE: ~gunfire,
        TYPE_MULTIPLE: gunfire & Q(rounds__gt=1),
        TYPE_SINGLE: gunfire & Q(rounds__lte=1),
    }[kind]
    if not _review_installed():
        return machine
    decided = [code for code, value in _DECISION_TYPES.items() if value == kind]
    return Q(review_decision__decision__in=decided) | (Q(review_decision__isnull=True) & machine)


def visible_incidents(*, agency) -> QuerySet[Incident]:
    """Incidents an agency's users may see: only those the review center published
    (a published alert later withdrawn stays visible, marked cancelled)."""
    qs = Incident.objects.select_related("agency", "coverage_area", "beat", "district")
    if _review_installed():
        qs = qs.select_related("review_decision")
    return qs.filter(
        agency=agency,
        published_at__isnull=False,
        status__in=[IncidentStatus.PUBLISHED, IncidentStatus.DISMISSED],
    )


def visible_incident_get(*, user, system_id: str, number: int) -> Incident | None:
    """The incident behind a secure link, or None when this user may not see it."""
    if user.agency_id is None or user.agency.system_id != system_id:
        return None
    return visible_incidents(agency=user.agency).filter(number=number).first()


def recent_incidents(*, agency, limit: int = LIST_LIMIT) -> list[Incident]:
    return list(visible_incidents(agency=agency).order_by("-published_at", "-id")[:limit])


@dataclass(frozen=True)
class SearchQuery:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    kind: str = ""
    beat: Beat | None = None
    district: District | None = None
    address: str = ""


def incident_search(*, agency, query: SearchQuery, tz) -> list[Incident]:
    """Published incidents matching every given criterion, newest first.

    Dates are whole days in the agency's time zone, both ends included.
    """
    qs = visible_incidents(agency=agency)
    if query.date_from:
        start = dt.datetime.combine(query.date_from, dt.time.min, tzinfo=tz)
        qs = qs.filter(first_shot_at__gte=start)
    if query.date_to:
        end = dt.datetime.combine(query.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        qs = qs.filter(first_shot_at__lt=end)
    if query.kind:
        qs = qs.filter(_type_filter(query.kind))
    if query.beat is not None:
        qs = qs.filter(beat=query.beat)
    if query.district is not None:
        qs = qs.filter(district=query.district)
    if query.address:
        qs = qs.filter(nearest_address__icontains=query.address)
    return list(qs.order_by("-first_shot_at", "-id")[:SEARCH_LIMIT])


@dataclass(frozen=True)
class Nearby:
    incident: Incident
    distance_m: float


def nearby_incidents(
    *, incident: Incident, radius_m: float = NEARBY_RADIUS_M, days: int = NEARBY_DAYS
) -> list[Nearby]:
    """Other visible incidents within ``radius_m`` and ``days`` before or after, nearest
    first. The details panel lists exactly these and the map draws exactly these."""
    dlat = radius_m / 111_000.0
    dlon = radius_m / (111_000.0 * max(0.01, math.cos(math.radians(incident.latitude))))
    window = dt.timedelta(days=days)
    candidates = (
        visible_incidents(agency=incident.agency)
        .exclude(pk=incident.pk)
        .filter(
            latitude__range=(incident.latitude - dlat, incident.latitude + dlat),
            longitude__range=(incident.longitude - dlon, incident.longitude + dlon),
            first_shot_at__range=(incident.first_shot_at - window, incident.first_shot_at + window),
        )
    )
    found = []
    for other in candidates:
        d = distance_m(incident.latitude, incident.longitude, other.latitude, other.longitude)
        if d <= radius_m:
            found.append(Nearby(incident=other, distance_m=d))
    found.sort(key=lambda n: (n.distance_m, -n.incident.first_shot_at.timestamp()))
    return found[:NEARBY_LIMIT]


def incident_clips(*, incident: Incident) -> list[AudioClip]:
    """Published audio, nearest sensor first, each with its own sensor distance."""
    return list(
        AudioClip.objects.filter(incident=incident)
        .select_related("sensor")
        .order_by("distance_m", "id")
    )


def opened_by(*, incident: Incident) -> list[IncidentOpen]:
    return list(IncidentOpen.objects.filter(incident=incident).select_related("user"))


def opened_incident_ids(*, incident_ids) -> set[int]:
    return set(
        IncidentOpen.objects.filter(incident_id__in=list(incident_ids)).values_list(
            "incident_id", flat=True
        )
    )


@dataclass
class TimelineEntry:
    at: dt.datetime
    kind: str
    label: str
    text: str = ""
    author: str = ""
    extra: dict = field(default_factory=dict)


_DECISION_LABELS = {
    "single_gunshot": "Single gunshot",
    "multiple_gunshots": "Multiple gunshots",
    "possible_gunfire": "Possible gunfire",
    "not_gunfire": "Not gunfire",
}

_KIND_LABELS = {
    "incident.published": "Published",
    "incident.comment": "Comment",
    "incident.reclassified": "Reclassified",
    "incident.location_moved": "Location moved",
    "incident.cancelled": "Cancelled",
}


def _payload_text(payload: dict) -> str:
    if isinstance(payload.get("comment"), dict):
        return str(payload["comment"].get("text") or "")
    for key in ("text", "comment", "body", "note", "message"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    if payload.get("type_label") or payload.get("classification"):
        return str(payload.get("type_label") or payload.get("classification"))
    return ""


def _history_entry(item) -> TimelineEntry:
    after, before = item.after or {}, item.before or {}
    text = item.reason or ""
    if item.kind in ("classification", "reclassification"):
        label = _DECISION_LABELS.get(after.get("decision"), after.get("decision") or "")
        if item.kind == "reclassification" and before.get("decision"):
            label = f"{_DECISION_LABELS.get(before['decision'], before['decision'])} → {label}"
        rounds = after.get("rounds")
        text = (
            label
            + (f", {rounds} round{'s' if rounds != 1 else ''}" if rounds else "")
            + (f": {item.reason}" if item.reason else "")
        )
    elif item.kind == "location_moved":
        where = after.get("nearest_address") or ""
        text = ", ".join(part for part in (where, item.reason) if part)
    return TimelineEntry(
        at=item.created_at,
        kind=item.kind,
        label=item.get_kind_display(),
        text=text,
        author=item.actor_name or "Incident Review Center",
    )


def incident_timeline(*, incident: Incident, user) -> list[TimelineEntry]:
    """The review center's comments and classifications, oldest first.

    Uses the review app's immutable history when it is installed; otherwise the stored
    agency events of the incident (the same rows the live stream delivers).
    """
    if _review_installed():
        from apps.review.selectors import history_for

        return [_history_entry(item) for item in history_for(incident=incident, user=user)]
    events = RealtimeEvent.objects.filter(
        audience=Audience.AGENCY, agency_id=incident.agency_id, incident_id=incident.pk
    ).exclude(kind="incident.opened")
    return [
        TimelineEntry(
            at=event.created_at,
            kind=event.kind,
            label=_KIND_LABELS.get(event.kind, event.kind),
            text=_payload_text(event.payload),
            author="Incident Review Center",
        )
        for event in events.order_by("id")
    ]


def agency_geography(*, agency) -> dict:
    """Coverage-area outlines, districts and beats as GeoJSON features for the map."""

    def features(queryset, layer):
        return [
            {
                "type": "Feature",
                "geometry": item.boundary,
                "properties": {"name": item.name, "layer": layer},
            }
            for item in queryset
        ]

    return {
        "coverage": features(CoverageArea.objects.filter(agency=agency), "coverage"),
        "districts": features(District.objects.filter(agency=agency), "district"),
        "beats": features(Beat.objects.filter(agency=agency), "beat"),
    }


def incident_marker(incident: Incident, *, url: str, opened: bool = False) -> dict:
    """What the map needs about one incident (kept in sync with the list rows)."""
    return {
        "id": incident.pk,
        "ref": incident.reference,
        "number": incident.number,
        "lat": incident.latitude,
        "lon": incident.longitude,
        "type": incident_type_label(incident),
        "rounds": incident_rounds(incident),
        "address": incident.nearest_address,
        "time": timezone.localtime(incident.first_shot_at).isoformat(),
        "url": url,
        "opened": opened,
        "cancelled": incident.status == IncidentStatus.DISMISSED,
        "ellipse": {
            "major_m": incident.ellipse_major_m,
            "minor_m": incident.ellipse_minor_m,
            "azimuth_deg": incident.ellipse_azimuth_deg,
        },
    }


PENDING_ALERT_MINUTES = 30


def toaster_payload(incident: Incident) -> dict:
    """What a toaster shows (the same keys as the review center's ``incident.published``)."""
    return {
        "incident_id": incident.pk,
        "system_id": incident.agency.system_id,
        "number": incident.number,
        "url": incident.get_absolute_url(),
        "time": incident.first_shot_at.isoformat(),
        "coverage_area": incident.coverage_area.name,
        "type_label": incident_type_label(incident),
        "rounds": incident_rounds(incident),
        "nearest_address": incident.nearest_address or None,
        "beat": incident.beat.name if incident.beat_id else None,
        "district": incident.district.name if incident.district_id else None,
        "lat": incident.latitude,
        "lon": incident.longitude,
    }


def pending_alerts(*, agency, now=None) -> list[dict]:
    """Recently published incidents nobody of the agency has opened yet, oldest first.

    A console that starts (or restarts) raises their toasters and reminder at once, so an
    alert published while no console was open is not missed.
    """
    now = now or timezone.now()
    incidents = (
        visible_incidents(agency=agency)
        .filter(
            status=IncidentStatus.PUBLISHED,
            published_at__gte=now - dt.timedelta(minutes=PENDING_ALERT_MINUTES),
        )
        .exclude(opens__isnull=False)
        .order_by("published_at", "id")
    )
    return [
        {"payload": toaster_payload(i), "published_at": i.published_at.isoformat()}
        for i in incidents
    ]


def portal_applications(*, user) -> dict[str, bool]:
    """Which of the three agency web applications the user may open (for the nav)."""
    from apps.accounts.access import can_use_application

    return {
        "console": can_use_application(user=user, application=Application.ALERT_CONSOLE),
        "investigator": can_use_application(user=user, application=Application.INVESTIGATOR_PORTAL),
        "siren": can_use_application(user=user, application=Application.SIREN),
    }
