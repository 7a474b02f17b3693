"""Reads for alerts: an incident's facts, its type, who should be e-mailed, delivery logs."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet

from apps.accounts.models import AGENCY_ROLES, Agency, Application, User
from apps.alerts.accuracy import within_m
from apps.alerts.models import (
    AlertMessage,
    AlertSubscription,
    DeliveryStatus,
    EmailDestination,
    IncidentType,
    MessageKind,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
)
from apps.incidents.models import Incident, incident_path


def review_decision(incident: Incident):
    """The review center's decision on the incident, or None (review app not there yet)."""
    try:
        return incident.review_decision
    except (ObjectDoesNotExist, AttributeError):
        return None


def incident_type(incident: Incident) -> str:
    """The reviewed type; without a review decision, single vs multiple by rounds."""
    decision = review_decision(incident)
    if decision is not None and decision.decision in IncidentType.values:
        return decision.decision
    if incident.machine_class and incident.machine_class != "gunfire":
        return IncidentType.POSSIBLE_GUNFIRE
    return (
        IncidentType.MULTIPLE_GUNSHOTS
        if (incident.rounds or 1) > 1
        else IncidentType.SINGLE_GUNSHOT
    )


def _flag(incident: Incident, name: str) -> bool:
    decision = review_decision(incident)
    if decision is not None and hasattr(decision, name):
        return bool(getattr(decision, name))
    return bool(getattr(incident, name, False))


def incident_rounds(incident: Incident) -> int:
    decision = review_decision(incident)
    if decision is not None and getattr(decision, "rounds", None):
        return int(decision.rounds)
    return int(incident.rounds or 1)


def headline(*, type_code: str, rounds: int, fully_automatic: bool, multiple_shooters: bool) -> str:
    """ "Multiple gunshots (5 rounds)", "Single gunshot", "Possible gunfire (2 rounds)"."""
    label = IncidentType(type_code).label
    extras = []
    if type_code != IncidentType.SINGLE_GUNSHOT and rounds > 1:
        extras.append(f"{rounds} rounds")
    if fully_automatic:
        extras.append("fully automatic")
    if multiple_shooters:
        extras.append("multiple shooters")
    return f"{label} ({', '.join(extras)})" if extras else label


def beat_label(name: str) -> str:
    return name if name.lower().startswith("beat") else f"Beat {name}"


def district_label(name: str) -> str:
    return name if name.lower().startswith("district") else f"District {name}"


def where_text(facts: dict) -> str:
    parts = [facts["nearest_address"] or f"{facts['latitude']:.5f}, {facts['longitude']:.5f}"]
    if facts["beat"]:
        parts.append(beat_label(facts["beat"]))
    elif facts["district"]:
        parts.append(district_label(facts["district"]))
    return ", ".join(parts)


def incident_url(incident: Incident) -> str:
    return settings.SITE_URL + incident_path(
        system_id=incident.agency.system_id, number=incident.number
    )


def map_link(*, lat: float, lon: float) -> str:
    return settings.ALERTS_MAP_LINK.format(lat=f"{lat:.6f}", lon=f"{lon:.6f}")


def incident_facts(incident: Incident) -> dict:
    """Everything an alert says about an incident, JSON-ready (times in UTC ISO 8601)."""
    agency = incident.agency
    zone = zoneinfo.ZoneInfo(agency.time_zone)
    type_code = incident_type(incident)
    rounds = incident_rounds(incident)
    fully_automatic = _flag(incident, "fully_automatic")
    multiple_shooters = _flag(incident, "multiple_shooters")
    facts = {
        "reference": f"{agency.system_id}-{incident.number}",
        "system_id": agency.system_id,
        "number": incident.number,
        "agency": agency.name,
        "url": incident_url(incident),
        "status": incident.status,
        "type": type_code,
        "type_label": IncidentType(type_code).label,
        "headline": headline(
            type_code=type_code,
            rounds=rounds,
            fully_automatic=fully_automatic,
            multiple_shooters=multiple_shooters,
        ),
        "rounds": rounds,
        "fully_automatic": fully_automatic,
        "multiple_shooters": multiple_shooters,
        "first_shot_at": _iso(incident.first_shot_at),
        "last_shot_at": _iso(incident.last_shot_at),
        "published_at": _iso(incident.published_at) if incident.published_at else None,
        "local_time": incident.first_shot_at.astimezone(zone).isoformat(timespec="seconds"),
        "time_zone": agency.time_zone,
        "latitude": round(incident.latitude, 6),
        "longitude": round(incident.longitude, 6),
        "ellipse_95": {
            "semi_major_m": round(incident.ellipse_major_m, 1),
            "semi_minor_m": round(incident.ellipse_minor_m, 1),
            "azimuth_deg": round(incident.ellipse_azimuth_deg, 1),
            # The "95% within" radius officers read, from the unrounded axis and rounded
            # up (``apps.alerts.accuracy``): 0.24 m must not become "0 m".
            "within_m": within_m(incident.ellipse_major_m),
        },
        "map_url": map_link(lat=incident.latitude, lon=incident.longitude),
        "nearest_address": incident.nearest_address,
        "beat": incident.beat.name if incident.beat_id else "",
        "district": incident.district.name if incident.district_id else "",
        "coverage_area": incident.coverage_area.name,
        "revision": incident.revision,
    }
    facts["where"] = where_text(facts)
    decision = review_decision(incident)
    if decision is not None and decision.decision == NOT_GUNFIRE:
        # Withdrawn: the type officers read is the new classification, not the type the
        # rounds suggest ("Multiple gunshots" on a cancel hid the cancellation).
        facts["type"] = NOT_GUNFIRE
        facts["type_label"] = not_gunfire_label(decision)
        facts["not_gunfire_reason"] = decision.not_gunfire_reason or None
    return facts


NOT_GUNFIRE = "not_gunfire"


def not_gunfire_label(decision) -> str:
    """ "Not gunfire (Firework)", or "Not gunfire" without a reason."""
    reason = decision.get_not_gunfire_reason_display() if decision.not_gunfire_reason else ""
    return f"Not gunfire ({reason})" if reason else "Not gunfire"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# --- Who gets an e-mail ---------------------------------------------------------------------


def parse_clock(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


END_OF_DAY = "24:00"  # a window's end only: "22:00-24:00" runs until midnight


def in_time_window(*, local: dt.time, start: dt.time, end: dt.time | None) -> bool:
    """Start inclusive, end exclusive; a window whose start is after its end crosses midnight.

    ``end`` None is 24:00, the end of the day."""
    if end is None:
        return local >= start
    if start < end:
        return start <= local < end
    return local >= start or local < end


def window_end(text: str) -> dt.time | None:
    """A stored window end: None for 24:00 (``dt.time`` stops at 23:59:59.999999)."""
    return None if text == END_OF_DAY else parse_clock(text)


def local_wall_time(*, when: dt.datetime, time_zone: str) -> dt.time:
    """The wall-clock time in the zone at that instant (zoneinfo: correct across DST)."""
    return when.astimezone(zoneinfo.ZoneInfo(time_zone)).time().replace(tzinfo=None)


def subscription_matches(
    *,
    subscription: AlertSubscription | None,
    when: dt.datetime,
    time_zone: str,
    beat_id: int | None,
    district_id: int | None,
    type_code: str,
    beat_ids: Iterable[int] | None = None,
    district_ids: Iterable[int] | None = None,
) -> bool:
    """Does an incident pass the user's filters? No subscription: every incident does.

    ``beat_ids``/``district_ids`` may be given (prefetched) to save queries.
    """
    if subscription is None:
        return True
    if not subscription.enabled:
        return False
    beats = set(
        beat_ids if beat_ids is not None else subscription.beats.values_list("pk", flat=True)
    )
    districts = set(
        district_ids
        if district_ids is not None
        else subscription.districts.values_list("pk", flat=True)
    )
    if (beats or districts) and not (
        (beat_id is not None and beat_id in beats)
        or (district_id is not None and district_id in districts)
    ):
        return False
    if subscription.incident_types and type_code not in subscription.incident_types:
        return False
    if subscription.time_windows:
        local = local_wall_time(when=when, time_zone=time_zone)
        if not any(
            in_time_window(local=local, start=parse_clock(start), end=window_end(end))
            for start, end in subscription.time_windows
        ):
            return False
    return True


def siren_users(*, agency: Agency) -> QuerySet[User]:
    """Active agency accounts with a Siren grant."""
    return (
        User.objects.filter(
            agency=agency,
            is_active=True,
            role__in=[r.value for r in AGENCY_ROLES],
            application_grants__application=Application.SIREN,
        )
        .distinct()
        .order_by("pk")
    )


def publish_recipients(*, incident: Incident) -> list[User]:
    """Siren users whose filters let this incident through (one query per relation)."""
    users = list(
        siren_users(agency=incident.agency).prefetch_related(
            "alert_subscription__beats", "alert_subscription__districts"
        )
    )
    type_code = incident_type(incident)
    chosen = []
    for user in users:
        subscription = _subscription_of(user)
        if subscription_matches(
            subscription=subscription,
            when=incident.first_shot_at,
            time_zone=incident.agency.time_zone,
            beat_id=incident.beat_id,
            district_id=incident.district_id,
            type_code=type_code,
            beat_ids=[b.pk for b in subscription.beats.all()] if subscription else None,
            district_ids=[d.pk for d in subscription.districts.all()] if subscription else None,
        ):
            chosen.append(user)
    return chosen


def _subscription_of(user: User) -> AlertSubscription | None:
    try:
        return user.alert_subscription
    except AlertSubscription.DoesNotExist:
        return None


def thread_roots(*, incident: Incident) -> dict[int, Notification]:
    """Per destination id, the first attempt of the publish e-mail that was not skipped.

    Follow-ups go to these destinations only, in the thread of that Message-ID.
    """
    roots: dict[int, Notification] = {}
    rows = (
        Notification.objects.filter(alert__incident=incident, alert__kind=MessageKind.PUBLISH)
        .exclude(status=DeliveryStatus.SKIPPED)
        .select_related("destination__user", "alert")
        .order_by("attempt", "pk")
    )
    for row in rows:
        roots.setdefault(row.destination_id, row)
    return roots


def subscription_for(*, user: User) -> AlertSubscription | None:
    return AlertSubscription.objects.filter(user=user).first()


def destinations_for_agency(*, agency: Agency) -> QuerySet[EmailDestination]:
    return EmailDestination.objects.filter(user__agency=agency).select_related("user")


def notifications_for_agency(*, agency: Agency) -> QuerySet[Notification]:
    return Notification.objects.filter(alert__agency=agency).select_related("alert", "destination")


def webhook_endpoints(*, agency: Agency) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(agency=agency)


def webhook_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.select_related("message")


def cap_messages(*, agency: Agency) -> QuerySet[AlertMessage]:
    return AlertMessage.objects.filter(agency=agency).order_by("-sent_at", "-pk")


def host_of_site() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"
