"""Writes on investigation requests: filing, the reviewer's steps, audio, closing.

Every rule is enforced here, whatever the form in front of it did: only agency users of
the Investigator Portal file, only verified review-center staff search, request audio
and close, and audio is requested only

- from the requesting agency's active sensors within ``INVESTIGATION_AUDIO_MAX_DISTANCE_M``
  (800 m) of the place (or of the shot the reviewer located from the pulses),
- for a window of at most ``INVESTIGATION_AUDIO_MAX_WINDOW_S`` (8 s) at each sensor, one
  window per sensor and request (a request that expired unanswered does not count: that
  sensor may be asked again), inside the filed time ± tolerance,
- while the whole window is still inside the sensors' ``SENSOR_BUFFER_HOURS`` (72 h)
  buffer and already recorded.

The agency user who filed a request, or the agency's super user, may cancel it while it
is open (``investigation_cancel``). Playback of the audio is ``apps.evidence``'s one
audited path (registered in ``apps.investigations.apps``).

A refusal raises ``InvestigationError`` (a ``ValidationError``) naming every rule broken
and writes nothing. Each step writes one audit event whose target is the request, so the
agency's request page shows the whole story (``selectors.investigation_timeline``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.access import can_use_application
from apps.accounts.models import Application
from apps.acoustics.association import AssociationError, associate
from apps.acoustics.geometry import LocalFrame
from apps.acoustics.sound import speed_of_sound, weather_wind
from apps.audit.services import record_event
from apps.core.sequences import next_number
from apps.geo.models import AddressPoint
from apps.geo.polygons import haversine_m
from apps.geo.selectors import coverage_area_containing
from apps.incidents.conf import incident_setting
from apps.incidents.models import (
    INVESTIGATION_WINDOW_STATUSES,
    AudioRequest,
    AudioRequestStatus,
    Incident,
    IncidentStatus,
)
from apps.incidents.services import (
    AudioRequestConflict,
    AudioRequestNotFound,
    audio_request_check_open,
    audio_upload_check,
    clip_store,
)
from apps.investigations import selectors
from apps.investigations.models import (
    INVESTIGATION_AUDIO_MAX_DISTANCE_M,
    INVESTIGATION_AUDIO_MAX_WINDOW_S,
    JUSTIFICATION_MIN_CHARS,
    RADIUS_MAX_M,
    RADIUS_MIN_M,
    SENSOR_BUFFER_HOURS,
    TOLERANCE_MAX_S,
    InvestigationClip,
    InvestigationRequest,
    InvestigationSequence,
    InvestigationStatus,
)
from apps.sensors.models import Sensor, SensorStatus

CASE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./_#:-]{0,63}$")
# Gunfire cannot be reported before it happened; allow the clocks this much disagreement.
FUTURE_SLACK_S = 60
CLOSING_TEXT_MIN_CHARS = 10
CANCEL_REASON_MAX_CHARS = 2000
MAX_SEARCH_SHOTS = 20
MAX_PULSES_SHOWN_PER_SENSOR = 30
# A reviewer's opening is recorded again only after this long without a step of theirs.
VIEW_QUIET_S = 300


class InvestigationError(ValidationError):
    """A step refused; the messages say which rule and why. Nothing was written."""


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _require_agency_user(user) -> None:
    if not can_use_application(user=user, application=Application.INVESTIGATOR_PORTAL):
        raise PermissionDenied("Investigation requests are filed by Investigator Portal users.")


def _require_reviewer(user) -> None:
    verified = getattr(user, "is_verified", None)
    if not (
        user.is_authenticated
        and user.is_active
        and user.is_irc_reviewer
        and callable(verified)
        and verified()
    ):
        raise PermissionDenied("Only verified review-center staff handle investigation requests.")


def _locked(investigation_id: int) -> InvestigationRequest:
    found = (
        InvestigationRequest.objects.select_for_update(of=("self",))
        .select_related("agency")
        .filter(pk=investigation_id)
        .first()
    )
    if found is None:
        raise InvestigationError("No such investigation request.")
    return found


def _speed_of_sound() -> float:
    return speed_of_sound(float(incident_setting("PIPELINE_TEMPERATURE_C")))


# --- Filing ---------------------------------------------------------------------------------


def _number_next(*, agency) -> int:
    """The next request number of the agency; safe under concurrency."""
    return next_number(sequence_model=InvestigationSequence, agency=agency)


def investigation_file(
    *,
    user,
    case_number: str,
    justification: str,
    occurred_at: dt.datetime,
    tolerance_s: int,
    radius_m: float,
    latitude: float | None = None,
    longitude: float | None = None,
    address: str = "",
    related_incident_number: int | None = None,
    request: HttpRequest | None = None,
    now: dt.datetime | None = None,
) -> InvestigationRequest:
    """File a request for one specific, verified gunfire incident of the user's agency.

    The place is a point, or one of the agency's addresses (exact label) when no point is
    given; it must lie in one of the agency's coverage areas. Raises
    ``InvestigationError`` with a message per field, ``PermissionDenied`` for users
    without the Investigator Portal.
    """
    _require_agency_user(user)
    agency = user.agency
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}

    def refuse(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    case_number = (case_number or "").strip()
    if not CASE_NUMBER.match(case_number):
        refuse(
            "case_number",
            "Give the agency's case number (1 to 64 letters, digits, spaces or . / _ # : -).",
        )
    justification = (justification or "").strip()
    if len(justification) < JUSTIFICATION_MIN_CHARS:
        refuse(
            "justification",
            f"Say why this is a specific, verified gunfire incident (at least "
            f"{JUSTIFICATION_MIN_CHARS} characters; {len(justification)} given).",
        )
    if occurred_at is None or occurred_at.tzinfo is None:
        refuse("occurred_at", "Give the time of the gunfire with its time zone.")
    elif occurred_at > now + dt.timedelta(seconds=FUTURE_SLACK_S):
        refuse("occurred_at", "The time of the gunfire is in the future.")
    if not isinstance(tolerance_s, int) or not 1 <= tolerance_s <= TOLERANCE_MAX_S:
        refuse("tolerance_s", f"The time tolerance is 1 to {TOLERANCE_MAX_S} seconds.")
    if radius_m is None or not RADIUS_MIN_M <= radius_m <= RADIUS_MAX_M:
        refuse("radius_m", f"The radius is {RADIUS_MIN_M:.0f} to {RADIUS_MAX_M:.0f} m.")

    address = (address or "").strip()
    if latitude is None and longitude is None:
        if not address:
            refuse("latitude", "Give the place: a latitude and longitude, or an address.")
        else:
            point = (
                AddressPoint.objects.filter(agency=agency, label__iexact=address)
                .order_by("pk")
                .first()
            )
            if point is None:
                refuse(
                    "address",
                    "No address of your agency is called that; give the latitude and "
                    "longitude instead.",
                )
            else:
                latitude, longitude, address = point.latitude, point.longitude, point.label
    elif latitude is None or longitude is None:
        refuse("latitude", "Give both the latitude and the longitude.")
    if latitude is not None and longitude is not None and "latitude" not in errors:
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            refuse("latitude", "Not a latitude/longitude.")
        elif coverage_area_containing(agency=agency, lat=latitude, lon=longitude) is None:
            refuse("latitude", "The place is outside your agency's coverage areas.")

    related = None
    if related_incident_number is not None:
        related = Incident.objects.filter(
            agency=agency, number=related_incident_number, status=IncidentStatus.PUBLISHED
        ).first()
        if related is None:
            refuse(
                "related_incident",
                f"Your agency has no published incident {related_incident_number}.",
            )
    if errors:
        raise InvestigationError(errors)

    with transaction.atomic():
        investigation = InvestigationRequest.objects.create(
            agency=agency,
            number=_number_next(agency=agency),
            filed_by=user,
            filed_by_email=user.email,
            case_number=case_number,
            justification=justification,
            occurred_at=occurred_at.astimezone(dt.UTC),
            tolerance_s=tolerance_s,
            latitude=float(latitude),
            longitude=float(longitude),
            address=address,
            radius_m=float(radius_m),
            related_incident=related,
            created_at=now,
        )
        record_event(
            action="investigation.filed",
            actor=user,
            agency=agency,
            target=investigation,
            target_label=investigation.reference,
            request=request,
            details={
                "reference": investigation.reference,
                "case_number": case_number,
                "occurred_utc": _iso(investigation.occurred_at),
                "tolerance_s": tolerance_s,
                "latitude": investigation.latitude,
                "longitude": investigation.longitude,
                "radius_m": investigation.radius_m,
                "related_incident": related.reference if related else None,
            },
        )
    return investigation


# --- The reviewer's steps -------------------------------------------------------------------


def investigation_record_view(
    *,
    investigation: InvestigationRequest,
    reviewer,
    request: HttpRequest | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """A reviewer opened the request (its place, case and justification): audited.

    Not again while this reviewer is working on it (an audited step of theirs on the
    request less than ``VIEW_QUIET_S`` ago): the page shown after each of their own
    actions is not a new opening. Returns whether an event was written.
    """
    _require_reviewer(reviewer)
    now = now or timezone.now()
    recent = (
        selectors.investigation_timeline(investigation=investigation)
        .filter(actor=reviewer, occurred_at__gt=now - dt.timedelta(seconds=VIEW_QUIET_S))
        .exists()
    )
    if recent:
        return False
    record_event(
        action="investigation.viewed",
        actor=reviewer,
        agency=investigation.agency,
        target=investigation,
        target_label=investigation.reference,
        request=request,
        details={"reference": investigation.reference, "status": investigation.status},
    )
    return True


def _locate_shots(found: list[selectors.FoundPulse], investigation, c: float) -> dict:
    """Run association over the found pulses; shots as lat/lon with their distances."""
    frame = LocalFrame(
        origin_lat_deg=investigation.latitude, origin_lon_deg=investigation.longitude
    )
    if not found:
        return {"shots": [], "association_error": ""}
    from apps.incidents.pipeline import acoustic_pulses

    pulses = acoustic_pulses(frame, [f.pulse for f in found])
    from apps.incidents.pipeline import pipeline_weather

    try:
        located = associate(
            pulses, c=c, wind_xy=tuple(weather_wind(pipeline_weather())), source_z=None
        )
    except AssociationError as error:
        return {"shots": [], "association_error": str(error)}
    shots = []
    tolerance = dt.timedelta(seconds=investigation.tolerance_s)
    for shot in located[:MAX_SEARCH_SHOTS]:
        lat, lon, _ = frame.to_wgs84([shot.x, shot.y, 0.0])
        lat, lon = float(lat), float(lon)
        emitted = dt.datetime.fromtimestamp(shot.t_emit, dt.UTC)
        distance = haversine_m(
            lat1=investigation.latitude, lon1=investigation.longitude, lat2=lat, lon2=lon
        )
        shots.append(
            {
                "index": len(shots),
                "latitude": round(lat, 6),
                "longitude": round(lon, 6),
                "emitted_utc": _iso(emitted),
                "n_sensors": shot.n_sensors,
                "ellipse_major_m": round(shot.ellipse95_major_m, 1),
                "residual_ms": round(shot.residual_rms_s * 1000, 2),
                "distance_m": round(distance, 1),
                "matches": bool(
                    distance <= investigation.radius_m
                    and abs(emitted - investigation.occurred_at) <= tolerance
                ),
            }
        )
    return {"shots": shots, "association_error": ""}


def investigation_search(
    *,
    investigation_id: int,
    reviewer,
    request: HttpRequest | None = None,
    now: dt.datetime | None = None,
) -> InvestigationRequest:
    """Search the agency's stored summary pulses near the time and place, and locate.

    Stores the result on the request (counts, per-sensor pulses, located shots), moves a
    submitted request into review under this reviewer, and audits the search.
    """
    _require_reviewer(reviewer)
    now = now or timezone.now()
    with transaction.atomic():
        investigation = _locked(investigation_id)
        if not investigation.is_open:
            raise InvestigationError(f"This request is {investigation.get_status_display()}.")
        found, truncated = selectors.pulses_near(investigation=investigation)
        start, end = selectors.search_window(investigation=investigation)
        per_sensor: dict[str, dict] = {}
        for item in found:
            entry = per_sensor.setdefault(
                item.serial,
                {"serial": item.serial, "distance_m": round(item.distance_m, 1), "pulses": []},
            )
            if len(entry["pulses"]) < MAX_PULSES_SHOWN_PER_SENSOR:
                entry["pulses"].append(
                    {
                        "arrival_utc": _iso(item.pulse.arrival_time),
                        "power_db_spl": round(item.pulse.power_db_spl, 1),
                        "snr_db": round(item.pulse.snr_db, 1),
                    }
                )
            entry["count"] = entry.get("count", 0) + 1
        located = _locate_shots(found, investigation, _speed_of_sound())
        investigation.search_result = {
            "searched_at": _iso(now),
            "searched_by": reviewer.email,
            "window_start": _iso(start),
            "window_end": _iso(end),
            "range_m": round(selectors.search_range_m(investigation=investigation), 1),
            "n_pulses": len(found),
            "n_sensors": len(per_sensor),
            "truncated": truncated,
            "sensors": sorted(per_sensor.values(), key=lambda e: (e["distance_m"], e["serial"])),
            **located,
        }
        fields = ["search_result", "updated_at"]
        if investigation.status == InvestigationStatus.SUBMITTED:
            investigation.status = InvestigationStatus.IN_REVIEW
            fields.append("status")
        if investigation.reviewer_id is None:
            investigation.reviewer = reviewer
            fields.append("reviewer")
        investigation.save(update_fields=fields)
        record_event(
            action="investigation.searched",
            actor=reviewer,
            agency=investigation.agency,
            target=investigation,
            target_label=investigation.reference,
            request=request,
            details={
                "reference": investigation.reference,
                "window_start": _iso(start),
                "window_end": _iso(end),
                "range_m": investigation.search_result["range_m"],
                "pulses": len(found),
                "sensors": len(per_sensor),
                "shots_located": len(located["shots"]),
                "association_error": located["association_error"],
            },
        )
    return investigation


def investigation_locate(
    *,
    investigation_id: int,
    reviewer,
    shot_index: int,
    request: HttpRequest | None = None,
) -> InvestigationRequest:
    """Take one shot located by the last search as the request's source (audited)."""
    _require_reviewer(reviewer)
    with transaction.atomic():
        investigation = _locked(investigation_id)
        if not investigation.is_open:
            raise InvestigationError(f"This request is {investigation.get_status_display()}.")
        shots = investigation.search_result.get("shots") or []
        shot = next((s for s in shots if s.get("index") == shot_index), None)
        if shot is None:
            raise InvestigationError("The last search located no such shot; search again.")
        if shot["distance_m"] > investigation.radius_m + INVESTIGATION_AUDIO_MAX_DISTANCE_M:
            raise InvestigationError(
                f"That shot is {shot['distance_m']:.0f} m from the filed place, beyond the "
                f"radius of {investigation.radius_m:.0f} m plus "
                f"{INVESTIGATION_AUDIO_MAX_DISTANCE_M:.0f} m."
            )
        investigation.located_latitude = shot["latitude"]
        investigation.located_longitude = shot["longitude"]
        investigation.located_at = dt.datetime.fromisoformat(shot["emitted_utc"])
        investigation.located_n_sensors = shot["n_sensors"]
        investigation.located_ellipse_major_m = shot["ellipse_major_m"]
        investigation.save()
        record_event(
            action="investigation.located",
            actor=reviewer,
            agency=investigation.agency,
            target=investigation,
            target_label=investigation.reference,
            request=request,
            details={"reference": investigation.reference, **shot},
        )
    return investigation


def investigation_audio_request(
    *,
    investigation_id: int,
    reviewer,
    sensor_ids: list[int],
    source_start: dt.datetime,
    duration_s: float,
    request: HttpRequest | None = None,
    now: dt.datetime | None = None,
) -> list[AudioRequest]:
    """Ask sensors for the audio of a window at the source (emission time), or refuse.

    ``source_start`` .. ``+ duration_s`` is when the sound left the source; each sensor's
    window is shifted by its distance / c (as for incidents), so all sensors record the
    same sound. Every sensor must pass every rule (module docstring) or nothing at all is
    requested; the error lists each rule broken, per sensor.
    """
    _require_reviewer(reviewer)
    now = now or timezone.now()
    with transaction.atomic():
        investigation = _locked(investigation_id)
        if investigation.status not in (
            InvestigationStatus.IN_REVIEW,
            InvestigationStatus.AUDIO_REQUESTED,
        ):
            if investigation.status == InvestigationStatus.SUBMITTED:
                raise InvestigationError("Search the stored pulses before requesting audio.")
            raise InvestigationError(f"This request is {investigation.get_status_display()}.")
        problems: list[str] = []
        ids = sorted({int(i) for i in sensor_ids or []})
        if not ids:
            problems.append("Choose at least one sensor.")
        if not 0 < duration_s <= INVESTIGATION_AUDIO_MAX_WINDOW_S:
            problems.append(
                f"A window is more than 0 and at most {INVESTIGATION_AUDIO_MAX_WINDOW_S:.0f} s "
                f"per sensor ({duration_s:g} s asked)."
            )
        source_start = source_start.astimezone(dt.UTC)
        source_end = source_start + dt.timedelta(seconds=duration_s)
        tolerance = dt.timedelta(seconds=investigation.tolerance_s)
        earliest = investigation.occurred_at - tolerance
        latest = investigation.occurred_at + tolerance
        if source_start < earliest or source_end > latest:
            problems.append(
                f"The window [{_iso(source_start)}, {_iso(source_end)}] is not inside the "
                f"filed time ± tolerance [{_iso(earliest)}, {_iso(latest)}]."
            )
        sensors = {
            s.pk: s for s in Sensor.objects.filter(pk__in=ids, agency_id=investigation.agency_id)
        }
        unknown = [i for i in ids if i not in sensors]
        if unknown:
            problems.append(
                f"{len(unknown)} of the chosen sensors are not sensors of "
                f"{investigation.agency.name}."
            )
        asked = AudioRequest.objects.filter(investigation=investigation, sensor_id__in=ids)
        # A request past its expiry is expired even before the periodic task marks it (the
        # sensor can no longer answer it); it frees the sensor's window.
        asked.filter(status=AudioRequestStatus.PENDING, expires_at__lte=now).update(
            status=AudioRequestStatus.EXPIRED, updated_at=now
        )
        already = set(
            asked.filter(status__in=INVESTIGATION_WINDOW_STATUSES).values_list(
                "sensor_id", flat=True
            )
        )
        expired_before = set(
            asked.filter(status=AudioRequestStatus.EXPIRED).values_list("sensor_id", flat=True)
        )
        lat0, lon0 = investigation.audio_point()
        point = "the located shot" if investigation.has_located_shot else "the filed place"
        c = _speed_of_sound()
        buffer = dt.timedelta(hours=SENSOR_BUFFER_HOURS)
        plan = []
        for sensor_id in ids:
            sensor = sensors.get(sensor_id)
            if sensor is None:
                continue
            serial = sensor.serial_number
            if sensor.status != SensorStatus.ACTIVE:
                problems.append(f"Sensor {serial} is {sensor.status}, not active.")
            if sensor_id in already:
                problems.append(
                    f"Sensor {serial} already has its one window for this request "
                    "(one window per sensor)."
                )
            distance = haversine_m(
                lat1=lat0, lon1=lon0, lat2=sensor.latitude, lon2=sensor.longitude
            )
            if distance > INVESTIGATION_AUDIO_MAX_DISTANCE_M:
                problems.append(
                    f"Sensor {serial} is {distance:.0f} m from {point}; audio is requested "
                    f"only from sensors within {INVESTIGATION_AUDIO_MAX_DISTANCE_M:.0f} m."
                )
            delay = dt.timedelta(seconds=distance / c)
            start, end = source_start + delay, source_end + delay
            if now - start >= buffer:
                problems.append(
                    f"Sensor {serial}'s window starts "
                    f"{(now - start).total_seconds() / 3600:.1f} h ago: sensors keep audio "
                    f"only {SENSOR_BUFFER_HOURS:.0f} h, it is gone."
                )
            if end > now:
                problems.append(f"Sensor {serial}'s window ends in the future.")
            plan.append((sensor, distance, start, end))
        if problems:
            raise InvestigationError(problems)

        expiry = dt.timedelta(seconds=incident_setting("AUDIO_REQUEST_EXPIRY_S"))
        rate = int(incident_setting("AUDIO_SAMPLE_RATE"))
        created = []
        for sensor, distance, start, end in plan:
            created.append(
                AudioRequest.objects.create(
                    investigation=investigation,
                    sensor=sensor,
                    window_start=start,
                    window_end=end,
                    sample_rate=rate,
                    distance_m=distance,
                    created_at=now,
                    # Never open beyond the moment the sensor purges the window's start.
                    expires_at=min(now + expiry, start + buffer),
                )
            )
        investigation.status = InvestigationStatus.AUDIO_REQUESTED
        if investigation.reviewer_id is None:
            investigation.reviewer = reviewer
        investigation.save(update_fields=["status", "reviewer", "updated_at"])
        record_event(
            action="investigation.audio_requested",
            actor=reviewer,
            agency=investigation.agency,
            target=investigation,
            target_label=investigation.reference,
            request=request,
            details={
                "reference": investigation.reference,
                "source_start": _iso(source_start),
                "duration_s": duration_s,
                "measured_from": point,
                "sensors": [
                    {
                        "serial": r.sensor.serial_number,
                        "request": r.pk,
                        "distance_m": round(r.distance_m, 1),
                        "start_utc": _iso(r.window_start),
                        "end_utc": _iso(r.window_end),
                    }
                    for r in created
                ],
                "again_after_expiry": [
                    r.sensor.serial_number for r in created if r.sensor_id in expired_before
                ],
            },
        )
    return created


def _withdraw_pending(investigation: InvestigationRequest) -> int:
    return AudioRequest.objects.filter(
        investigation=investigation, status=AudioRequestStatus.PENDING
    ).update(status=AudioRequestStatus.WITHDRAWN, updated_at=timezone.now())


def investigation_cancel(
    *,
    investigation_id: int,
    user,
    reason: str = "",
    request: HttpRequest | None = None,
    now: dt.datetime | None = None,
) -> InvestigationRequest:
    """The agency withdraws its request while it is open (not completed, declined or
    already cancelled): audited, shown on the timeline; pending audio requests are
    withdrawn, so sensors no longer see them and no more audio is taken.

    Only the agency user who filed it, or the agency's super user
    (``selectors.may_cancel_investigation``). Raises ``InvestigationError`` for another
    agency's or a missing request (the same message) and for a closed one,
    ``PermissionDenied`` for a colleague who may not cancel it.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if len(reason) > CANCEL_REASON_MAX_CHARS:
        raise InvestigationError(
            {"reason": f"At most {CANCEL_REASON_MAX_CHARS} characters ({len(reason)} given)."}
        )
    with transaction.atomic():
        investigation = _locked(investigation_id)
        if getattr(user, "agency_id", None) != investigation.agency_id:
            raise InvestigationError("No such investigation request.")
        if not investigation.is_open:
            raise InvestigationError(
                f"This request is already {investigation.get_status_display().lower()}."
            )
        if not selectors.may_cancel_investigation(user=user, investigation=investigation):
            raise PermissionDenied(
                "Only the user who filed the request, or the agency's super user, may cancel it."
            )
        withdrawn = _withdraw_pending(investigation)
        investigation.status = InvestigationStatus.CANCELLED
        investigation.cancel_reason = reason
        investigation.closed_at = now
        investigation.save(update_fields=["status", "cancel_reason", "closed_at", "updated_at"])
        record_event(
            action="investigation.cancelled",
            actor=user,
            agency=investigation.agency,
            target=investigation,
            target_label=investigation.reference,
            request=request,
            details={
                "reference": investigation.reference,
                "cancel_reason": reason,
                "clips": investigation.clips.count(),
                "audio_requests_withdrawn": withdrawn,
            },
        )
    return investigation


def _close(
    *,
    investigation_id: int,
    reviewer,
    status: str,
    text: str,
    field: str,
    action: str,
    request: HttpRequest | None,
    now: dt.datetime | None,
) -> InvestigationRequest:
    _require_reviewer(reviewer)
    now = now or timezone.now()
    text = (text or "").strip()
    if len(text) < CLOSING_TEXT_MIN_CHARS:
        label = "findings" if field == "findings" else "reason"
        raise InvestigationError(
            {field: f"Write the {label} for the agency (at least {CLOSING_TEXT_MIN_CHARS} chars)."}
        )
    with transaction.atomic():
        investigation = _locked(investigation_id)
        if not investigation.is_open:
            raise InvestigationError(
                f"This request is already {investigation.get_status_display().lower()}."
            )
        if status == InvestigationStatus.COMPLETED and investigation.status == (
            InvestigationStatus.SUBMITTED
        ):
            raise InvestigationError("Search the stored pulses before completing the request.")
        withdrawn = _withdraw_pending(investigation)
        setattr(investigation, field, text)
        investigation.status = status
        investigation.closed_at = now
        if investigation.reviewer_id is None:
            investigation.reviewer = reviewer
        investigation.save()
        record_event(
            action=action,
            actor=reviewer,
            agency=investigation.agency,
            target=investigation,
            target_label=investigation.reference,
            request=request,
            details={
                "reference": investigation.reference,
                field: text,
                "clips": investigation.clips.count(),
                "audio_requests_withdrawn": withdrawn,
            },
        )
        from apps.investigations.tasks import notify_investigation_closed

        pk = investigation.pk
        transaction.on_commit(lambda: notify_investigation_closed.delay(investigation_id=pk))
    return investigation


def investigation_complete(
    *,
    investigation_id: int,
    reviewer,
    findings: str,
    request: HttpRequest | None = None,
    now: dt.datetime | None = None,
) -> InvestigationRequest:
    """Close the request with the reviewer's findings; the agency is notified."""
    return _close(
        investigation_id=investigation_id,
        reviewer=reviewer,
        status=InvestigationStatus.COMPLETED,
        text=findings,
        field="findings",
        action="investigation.completed",
        request=request,
        now=now,
    )


def investigation_decline(
    *,
    investigation_id: int,
    reviewer,
    reason: str,
    request: HttpRequest | None = None,
    now: dt.datetime | None = None,
) -> InvestigationRequest:
    """Decline the request, saying why; the agency is notified."""
    return _close(
        investigation_id=investigation_id,
        reviewer=reviewer,
        status=InvestigationStatus.DECLINED,
        text=reason,
        field="decline_reason",
        action="investigation.declined",
        request=request,
        now=now,
    )


# --- Audio uploads -------------------------------------------------------------


def investigation_clip_store(
    *,
    sensor: Sensor,
    request_id: int,
    body: bytes,
    start_time: dt.datetime,
    now: dt.datetime | None = None,
) -> InvestigationClip:
    """Store a WAV uploaded against an investigation's pending audio request, or refuse.

    The same refusals as incident audio (``apps.incidents.services.audio_clip_store``):
    every sample must lie inside the request's window. Also refused (409) once the
    investigation is closed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        audio_request = (
            AudioRequest.objects.select_for_update(of=("self",))
            .select_related("investigation__agency")
            .filter(pk=request_id, sensor=sensor, investigation__isnull=False)
            .first()
        )
        if audio_request is None:
            raise AudioRequestNotFound(f"No audio request {request_id} for this sensor.")
        audio_request_check_open(request=audio_request, now=now)
        investigation = audio_request.investigation
        if investigation.status != InvestigationStatus.AUDIO_REQUESTED:
            raise AudioRequestConflict("The investigation no longer takes audio.")
        checked = audio_upload_check(request=audio_request, body=body, start_time=start_time)
        digest = hashlib.sha256(body).hexdigest()
        clip = InvestigationClip(
            investigation=investigation,
            sensor=sensor,
            request=audio_request,
            start_time=checked.start,
            sample_rate=audio_request.sample_rate,
            n_samples=checked.n_samples,
            duration_s=checked.duration_s,
            sha256=digest,
            size_bytes=len(body),
            distance_m=audio_request.distance_m,
            created_at=now,
        )
        clip_store(
            clip=clip,
            body=body,
            audio_request=audio_request,
            now=now,
            audit=lambda stored: record_event(
                action="investigation.audio_stored",
                agency=investigation.agency,
                target=investigation,
                target_label=investigation.reference,
                details={
                    "reference": investigation.reference,
                    "clip": stored.pk,
                    "sensor": sensor.serial_number,
                    "sha256": digest,
                    "start_utc": _iso(checked.start),
                    "duration_s": round(checked.duration_s, 6),
                    "distance_m": round(audio_request.distance_m, 1),
                },
            ),
        )
    return clip
