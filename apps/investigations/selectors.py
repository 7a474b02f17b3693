"""Reads on investigation requests: agency-scoped lists, the reviewer queue, the timeline,
the stored pulses near a request and the sensors that may be asked for audio."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When

from apps.accounts.access import can_use_application
from apps.accounts.models import Application, Role
from apps.audit.models import AuditEvent
from apps.evidence.selectors import user_is_verified
from apps.evidence.services import ClipSubject
from apps.geo.polygons import haversine_m
from apps.incidents.models import AudioRequest
from apps.investigations.models import (
    INVESTIGATION_AUDIO_MAX_DISTANCE_M,
    OPEN_STATUSES,
    InvestigationClip,
    InvestigationRequest,
    InvestigationStatus,
)
from apps.sensors.models import Sensor, SensorPulse, SensorStatus

# A sensor hears gunfire up to about this far, so pulses of sensors this much beyond the
# request's radius can still belong to a shot inside it.
HEARING_RANGE_M = 2000.0
# Sound needs this long to cross the hearing range (the slowest speed of sound we use).
TRAVEL_MARGIN_S = 8.0
# A search reads at most this many pulses (a busy hour in a big area is fewer).
SEARCH_MAX_PULSES = 5000
METRES_PER_DEGREE_LAT = 111_320.0


def investigation_list_for_agency(*, agency) -> QuerySet[InvestigationRequest]:
    return InvestigationRequest.objects.filter(agency=agency).select_related("agency")


def investigation_get_for_agency(*, agency, investigation_id: int) -> InvestigationRequest | None:
    """The agency's own request, or None (another agency's is as absent as a missing one)."""
    return (
        InvestigationRequest.objects.select_related("agency", "related_incident__agency")
        .filter(agency=agency, pk=investigation_id)
        .first()
    )


def investigation_get(*, investigation_id: int) -> InvestigationRequest | None:
    return (
        InvestigationRequest.objects.select_related(
            "agency", "related_incident__agency", "reviewer"
        )
        .filter(pk=investigation_id)
        .first()
    )


def investigation_queue() -> QuerySet[InvestigationRequest]:
    """Open requests first (oldest first), then the closed ones (newest first)."""
    return (
        InvestigationRequest.objects.select_related("agency", "reviewer")
        .annotate(
            closed=Case(
                When(status__in=OPEN_STATUSES, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("closed", "created_at", "id")
    )


def investigation_timeline(*, investigation: InvestigationRequest) -> QuerySet[AuditEvent]:
    """Every audited step of the request, oldest first (the agency reads all of them).

    The steps target the request; playbacks (``apps.evidence``) target the clip and name
    the request in their details, so they stay on the timeline after retention deletes
    the clip.
    """
    return (
        AuditEvent.objects.filter(agency_id=investigation.agency_id)
        .filter(
            Q(target_type=InvestigationRequest._meta.label_lower, target_id=str(investigation.pk))
            | Q(
                target_type=InvestigationClip._meta.label_lower,
                details__investigation_id=investigation.pk,
            )
        )
        .order_by("occurred_at", "id")
    )


def investigation_clips(*, investigation: InvestigationRequest) -> QuerySet[InvestigationClip]:
    return investigation.clips.select_related("sensor").order_by("distance_m", "id")


def investigation_audio_requests(*, investigation: InvestigationRequest) -> QuerySet[AudioRequest]:
    """The request's audio requests, nearest sensor first; ``has_clip`` says whether the
    audio is still stored (retention deletes the audio of declined or cancelled requests)."""
    return (
        investigation.audio_requests.select_related("sensor")
        .annotate(has_clip=Exists(InvestigationClip.objects.filter(request=OuterRef("pk"))))
        .order_by("distance_m", "id")
    )


# --- Who may do what (the services and apps.evidence ask these) ------------------------------


def may_play_investigation_audio(*, user, investigation: InvestigationRequest) -> bool:
    """Verified review-center staff; the agency's own Investigator Portal users once the
    request is completed (with their second factor when their role or agency asks)."""
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_irc_reviewer:
        return user_is_verified(user)
    if user.agency_id is None or user.agency_id != investigation.agency_id:
        return False
    if investigation.status != InvestigationStatus.COMPLETED:
        return False
    if user.requires_two_factor and not user_is_verified(user):
        return False
    return can_use_application(user=user, application=Application.INVESTIGATOR_PORTAL)


def may_play_investigation_clip(*, user, clip: InvestigationClip) -> bool:
    """The rule ``apps.evidence`` applies to investigation clips (registered in
    ``InvestigationsConfig.ready``), on pressing play and on every fetch."""
    return may_play_investigation_audio(user=user, investigation=clip.investigation)


def investigation_clip_subject(clip: InvestigationClip) -> ClipSubject:
    """What a playback audit event of ``clip`` names: the request, in its agency's log."""
    investigation = clip.investigation
    return ClipSubject(
        agency=investigation.agency,
        reference=investigation.reference,
        details={"investigation": investigation.reference, "investigation_id": investigation.pk},
    )


def may_cancel_investigation(*, user, investigation: InvestigationRequest) -> bool:
    """The agency user who filed it, or the agency's super user, while it is open (with
    the Investigator Portal grant, and their second factor when required)."""
    if not investigation.is_open:
        return False
    if not can_use_application(user=user, application=Application.INVESTIGATOR_PORTAL):
        return False
    if user.agency_id != investigation.agency_id:
        return False
    if user.requires_two_factor and not user_is_verified(user):
        return False
    return user.pk == investigation.filed_by_id or user.role == Role.AGENCY_SUPER_USER


# --- Search of the stored summary pulses ----------------------------------------------------


def search_window(*, investigation: InvestigationRequest) -> tuple[dt.datetime, dt.datetime]:
    """Arrival times that can belong to gunfire at the filed time ± tolerance."""
    tolerance = dt.timedelta(seconds=investigation.tolerance_s)
    return (
        investigation.occurred_at - tolerance,
        investigation.occurred_at + tolerance + dt.timedelta(seconds=TRAVEL_MARGIN_S),
    )


def search_range_m(*, investigation: InvestigationRequest) -> float:
    return investigation.radius_m + HEARING_RANGE_M


@dataclass(frozen=True)
class FoundPulse:
    pulse: SensorPulse
    serial: str
    distance_m: float  # from the sensor (where it was) to the filed place


def pulses_near(*, investigation: InvestigationRequest) -> tuple[list[FoundPulse], bool]:
    """The requesting agency's stored pulses near the place and time, oldest first.

    Only the agency's own sensors; the pulse's own position snapshot decides the
    distance. Returns (pulses, truncated) where truncated says the cap was reached.
    """
    start, end = search_window(investigation=investigation)
    reach = search_range_m(investigation=investigation)
    lat, lon = investigation.latitude, investigation.longitude
    dlat = reach / METRES_PER_DEGREE_LAT
    dlon = reach / (METRES_PER_DEGREE_LAT * max(0.01, math.cos(math.radians(lat))))
    rows = list(
        SensorPulse.objects.filter(
            sensor__agency_id=investigation.agency_id,
            arrival_time__gte=start,
            arrival_time__lte=end,
            latitude__range=(lat - dlat, lat + dlat),
            longitude__range=(lon - dlon, lon + dlon),
        )
        .select_related("sensor")
        .order_by("arrival_time", "id")[: SEARCH_MAX_PULSES + 1]
    )
    truncated = len(rows) > SEARCH_MAX_PULSES
    found = []
    for row in rows[:SEARCH_MAX_PULSES]:
        distance = haversine_m(lat1=lat, lon1=lon, lat2=row.latitude, lon2=row.longitude)
        if distance <= reach:
            found.append(
                FoundPulse(pulse=row, serial=row.sensor.serial_number, distance_m=distance)
            )
    return found, truncated


@dataclass(frozen=True)
class AudioSensor:
    sensor: Sensor
    distance_m: float

    @property
    def eligible(self) -> bool:
        return self.distance_m <= INVESTIGATION_AUDIO_MAX_DISTANCE_M


def sensors_for_audio(
    *, investigation: InvestigationRequest, limit_m: float | None = None
) -> list[AudioSensor]:
    """The agency's active sensors by distance to the audio point, nearest first.

    By default those within 1.25 times the audio distance, so the reviewer also sees which
    sensors are just too far.
    """
    limit = limit_m if limit_m is not None else 1.25 * INVESTIGATION_AUDIO_MAX_DISTANCE_M
    lat, lon = investigation.audio_point()
    result = []
    for sensor in Sensor.objects.filter(
        agency_id=investigation.agency_id, status=SensorStatus.ACTIVE
    ):
        distance = haversine_m(lat1=lat, lon1=lon, lat2=sensor.latitude, lon2=sensor.longitude)
        if distance <= limit:
            result.append(AudioSensor(sensor=sensor, distance_m=distance))
    result.sort(key=lambda s: (s.distance_m, s.sensor.serial_number))
    return result


def sensors_in_radius(*, investigation: InvestigationRequest) -> list[AudioSensor]:
    """The agency's active sensors within the request's radius of the filed place,
    nearest first (distances from the filed place)."""
    lat, lon = investigation.latitude, investigation.longitude
    radius = investigation.radius_m
    dlat = radius / METRES_PER_DEGREE_LAT
    dlon = radius / (METRES_PER_DEGREE_LAT * max(0.01, math.cos(math.radians(lat))))
    result = []
    for sensor in Sensor.objects.filter(
        agency_id=investigation.agency_id,
        status=SensorStatus.ACTIVE,
        latitude__range=(lat - dlat, lat + dlat),
        longitude__range=(lon - dlon, lon + dlon),
    ):
        distance = haversine_m(lat1=lat, lon1=lon, lat2=sensor.latitude, lon2=sensor.longitude)
        if distance <= radius:
            result.append(AudioSensor(sensor=sensor, distance_m=distance))
    result.sort(key=lambda s: (s.distance_m, s.sensor.serial_number))
    return result


def investigation_map(*, investigation: InvestigationRequest, sensors: list[AudioSensor]) -> dict:
    """What the request's map draws: the filed place and radius, the located shot when
    there is one, and ``sensors`` (the reviewer's page passes those in the radius; the
    agency's page none)."""
    located = None
    if investigation.has_located_shot:
        located = {
            "lat": investigation.located_latitude,
            "lon": investigation.located_longitude,
            "ellipse_major_m": investigation.located_ellipse_major_m,
        }
    return {
        "place": {
            "lat": investigation.latitude,
            "lon": investigation.longitude,
            "radius_m": investigation.radius_m,
            "label": investigation.address or investigation.reference,
        },
        "located": located,
        "sensors": [
            {
                "serial": s.sensor.serial_number,
                "lat": s.sensor.latitude,
                "lon": s.sensor.longitude,
                "distance_m": round(s.distance_m),
            }
            for s in sensors
        ],
    }


# --- The timeline as the agency reads it ------------------------------------------------------

TIMELINE_LABELS = {
    "investigation.filed": "Filed",
    "investigation.viewed": "Opened by the review center",
    "investigation.searched": "Stored pulses searched",
    "investigation.located": "Shot located from the pulses",
    "investigation.audio_requested": "Audio requested from sensors",
    "investigation.audio_stored": "Audio received from a sensor",
    "audio.playback": "Audio played",
    "audio.integrity_failed": "Audio not played: checksum mismatch",
    "investigation.completed": "Completed",
    "investigation.declined": "Declined",
    "investigation.cancelled": "Cancelled by the agency",
    "investigation.audio_purged": "Audio deleted (retention period of a closed request)",
    "investigation.notified": "Agency notified by e-mail",
}


def _timeline_summary(action: str, d: dict) -> str:
    if action == "investigation.filed":
        return (
            f"Case {d.get('case_number')}, {d.get('occurred_utc')} ± {d.get('tolerance_s')} s, "
            f"within {d.get('radius_m'):.0f} m of {d.get('latitude'):.5f}, "
            f"{d.get('longitude'):.5f}"
        )
    if action == "investigation.searched":
        text = (
            f"{d.get('pulses')} pulses from {d.get('sensors')} sensors within "
            f"{d.get('range_m'):.0f} m, {d.get('window_start')} to {d.get('window_end')}; "
            f"{d.get('shots_located')} shots located"
        )
        if d.get("association_error"):
            text += f" (association: {d['association_error']})"
        return text
    if action == "investigation.located":
        return (
            f"{d.get('emitted_utc')} at {d.get('latitude')}, {d.get('longitude')} from "
            f"{d.get('n_sensors')} sensors, {d.get('distance_m'):.0f} m from the filed place"
        )
    if action == "investigation.audio_requested":
        parts = [
            f"{s['serial']} ({s['distance_m']:.0f} m, {s['start_utc']} to {s['end_utc']})"
            for s in d.get("sensors", [])
        ]
        text = "; ".join(parts)
        if d.get("again_after_expiry"):
            again = ", ".join(d["again_after_expiry"])
            text += f" (again for {again}: the earlier request expired unanswered)"
        return text
    if action == "investigation.audio_stored":
        return (
            f"Sensor {d.get('sensor')}: {d.get('duration_s'):.3f} s from {d.get('start_utc')}, "
            f"sha256 {str(d.get('sha256'))[:16]}…"
        )
    if action in ("audio.playback", "audio.integrity_failed"):
        return f"Clip of sensor {d.get('sensor')} ({d.get('duration_s')} s)"
    if action == "investigation.completed":
        return d.get("findings", "")
    if action == "investigation.declined":
        return d.get("decline_reason", "")
    if action == "investigation.cancelled":
        withdrawn = d.get("audio_requests_withdrawn", 0)
        text = d.get("cancel_reason", "") or "No reason given."
        return f"{text} ({withdrawn} pending audio request(s) withdrawn)"
    if action == "investigation.audio_purged":
        return f"{d.get('clips')} clip(s) deleted, {d.get('days')} days after the request closed"
    if action == "investigation.notified":
        return f"{len(d.get('to', []))} recipient(s)"
    return ""


def _safe_summary(action: str, details: dict) -> str:
    try:
        return _timeline_summary(action, details)
    except (TypeError, ValueError, KeyError):  # an event written by an older version
        return ""


def investigation_timeline_rows(*, investigation: InvestigationRequest) -> list[dict]:
    return [
        {
            "event": event,
            "label": TIMELINE_LABELS.get(event.action, event.action),
            "summary": _safe_summary(event.action, event.details or {}),
        }
        for event in investigation_timeline(investigation=investigation)
    ]
