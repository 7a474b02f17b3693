"""Writes on incidents: numbering, placing, closing, scheduling, and incident audio.

Audio follows the privacy policy (see ``apps.incidents.models``): requests exist only
for incidents in review (explosive-like), only for the participating sensors nearest the
source, and a clip is stored only when it lies inside its request's window.

The clip window at a sensor. The policy bounds audio relative to the shots: at most 2 s
before the first shot and 4 s after the last. A sensor hears each shot later, by its
distance over the speed of sound, so its window is shifted by that delay:
``[arrival of the first shot - 2 s, that + (last shot - first shot) + 6 s]``. The arrival
is the sensor's own pulse of the first shot when it reported one, else the emission time
plus distance / c. The window's length is therefore always exactly
``(last - first) + 6 s`` (never more), and refinements recompute it by the same rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from dataclasses import dataclass

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.acoustics.wavfiles import AudioFileError, parse_wav_bytes
from apps.audit.services import record_event
from apps.core.sequences import next_number
from apps.geo.selectors import locate_beat_and_district, nearest_address
from apps.incidents.conf import incident_setting
from apps.incidents.models import (
    AUDIO_POST_S,
    AUDIO_PRE_S,
    AudioClip,
    AudioRequest,
    AudioRequestStatus,
    Incident,
    IncidentSequence,
    IncidentStatus,
    ShotPulse,
)
from apps.sensors.models import Sensor, SensorPulse, SensorStatus

logger = logging.getLogger("apps.incidents")

# WAV header room allowed on top of the samples a window can hold (fmt, LIST, smj0...).
WAV_HEADER_ALLOWANCE_BYTES = 16 * 1024
NEAREST_ADDRESS_MAX_M = 1000.0
# Times travel as ISO-8601 with microseconds; allow that rounding and nothing more.
ROUNDING_S = 2e-6


# --- Incidents ----------------------------------------------------------------------------------


def incident_number_next(*, agency) -> int:
    """The next incident number of the agency; safe under concurrency."""
    return next_number(sequence_model=IncidentSequence, agency=agency)


def incident_place(*, incident: Incident) -> None:
    """Fill beat, district and nearest address from the incident's position (no save)."""
    where = locate_beat_and_district(
        agency=incident.agency, lat=incident.latitude, lon=incident.longitude
    )
    incident.beat = where.beat
    incident.district = where.district
    found = nearest_address(
        agency=incident.agency,
        lat=incident.latitude,
        lon=incident.longitude,
        max_distance_m=NEAREST_ADDRESS_MAX_M,
    )
    incident.nearest_address = found.address.label if found else ""
    incident.nearest_address_distance_m = round(found.distance_m, 1) if found else None


def incidents_close_passed(*, now: dt.datetime | None = None, coverage_area_id=None) -> int:
    """Close open incidents whose last shot is older than ``INCIDENT_CLOSE_AFTER_S``."""
    from apps.incidents import events

    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=incident_setting("INCIDENT_CLOSE_AFTER_S"))
    open_ = Incident.objects.filter(closed_at__isnull=True, last_shot_at__lt=cutoff)
    if coverage_area_id is not None:
        open_ = open_.filter(coverage_area_id=coverage_area_id)
    ids = list(open_.values_list("id", flat=True))
    if not ids:
        return 0
    closed = Incident.objects.filter(id__in=ids, closed_at__isnull=True).update(closed_at=now)
    for incident_id in ids:
        events.incident_changed(incident_id, "closed")
    return closed


# --- Scheduling -------------------------------------------------------------------------------


# Publishing a run retries once, briefly: with the broker down every sensor batch would
# otherwise wait out Celery's default retries before its 202; the sweep re-queues it.
SCHEDULE_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


def _queued_key(coverage_area_id: int) -> str:
    return f"incidents:pipeline-queued:{coverage_area_id}"


def schedule_coverage_area(*, coverage_area_id: int) -> bool:
    """Queue a pipeline run for the area unless one is already queued (True if queued).

    The marker is removed when the run starts, before it reads the pulses, so a batch
    committed after that queues another run: no batch is left behind. If the cache or
    the broker is down the batch stays unprocessed and ``sweep_unprocessed`` picks it up.
    """
    from django.conf import settings

    from apps.incidents.tasks import process_coverage_area

    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        # Embedded mode and tests: the run happens right here; there is no queue to share.
        try:
            process_coverage_area.delay(coverage_area_id=coverage_area_id)
        except Exception:
            logger.exception("pipeline run for coverage area %s failed", coverage_area_id)
            return False
        return True
    key = _queued_key(coverage_area_id)
    try:
        first = cache.add(key, 1, timeout=incident_setting("PIPELINE_DEDUPE_S"))
    except Exception:
        logger.warning("pipeline dedupe cache unavailable; queueing anyway", exc_info=True)
        first = True
    if not first:
        return False
    try:
        process_coverage_area.apply_async(
            kwargs={"coverage_area_id": coverage_area_id}, retry_policy=SCHEDULE_PUBLISH_RETRY
        )
    except Exception:
        # Eager mode runs the task here; a broker outage fails here. Either way the pulses
        # are stored and stay unprocessed: the sweep retries them.
        logger.exception("pipeline run for coverage area %s failed to run", coverage_area_id)
        unmark_coverage_area(coverage_area_id=coverage_area_id)
        return False
    return True


def unmark_coverage_area(*, coverage_area_id: int) -> None:
    try:
        cache.delete(_queued_key(coverage_area_id))
    except Exception:
        logger.warning("pipeline dedupe cache unavailable", exc_info=True)


def sweep_unprocessed(*, now: dt.datetime | None = None) -> int:
    """Queue runs for areas whose pulses have waited too long (lost task, broker outage).

    Pulses of sensors outside every coverage area cannot form incidents; they are marked
    processed. Returns the number of areas queued.
    """
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=2 * incident_setting("PIPELINE_DEDUPE_S"))
    SensorPulse.objects.filter(coverage_area__isnull=True, processed_at__isnull=True).update(
        processed_at=now
    )
    areas = (
        SensorPulse.objects.filter(processed_at__isnull=True, received_at__lt=stale)
        .values_list("coverage_area_id", flat=True)
        .distinct()
    )
    queued = 0
    for area_id in sorted(set(areas)):
        unmark_coverage_area(coverage_area_id=area_id)
        queued += schedule_coverage_area(coverage_area_id=area_id)
    return queued


# --- Audio requests ---------------------------------------------------------------------------


def _utc(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC)


def audio_window(*, first_shot_s: float, last_shot_s: float, first_arrival_s: float):
    """(start, end) epoch seconds of the clip window at a sensor (module docstring)."""
    start = first_arrival_s - AUDIO_PRE_S
    return start, start + (last_shot_s - first_shot_s) + AUDIO_PRE_S + AUDIO_POST_S


def audio_candidates(*, incident: Incident, c: float) -> list[dict]:
    """Participating active sensors within the distance, nearest first, with windows.

    A sensor's distance to the source is its shot-pulse distance in the incident's best
    located shot when it took part in it, else its smallest shot-pulse distance.
    """
    shots = list(incident.shots.order_by("emitted_epoch_s", "id"))
    if not shots:
        return []
    first, last = shots[0], max(shots, key=lambda s: s.emitted_epoch_s)
    main = [s for s in shots if s.shooter == 0] or shots
    best = max(main, key=lambda s: (s.n_sensors, -s.ellipse_major_m, -s.pk))
    rows = ShotPulse.objects.filter(shot__incident=incident).select_related("pulse", "sensor")
    per_sensor: dict[int, dict] = {}
    for sp in rows:
        entry = per_sensor.setdefault(
            sp.sensor_id, {"sensor": sp.sensor, "best": None, "min": math.inf, "first": None}
        )
        entry["min"] = min(entry["min"], sp.distance_m)
        if sp.shot_id == best.pk:
            entry["best"] = sp.distance_m
        if sp.shot_id == first.pk:
            entry["first"] = sp.pulse.arrival_epoch_s
    max_distance = float(incident_setting("AUDIO_MAX_DISTANCE_M"))
    result = []
    for sensor_id, entry in per_sensor.items():
        distance = entry["best"] if entry["best"] is not None else entry["min"]
        if distance > max_distance or entry["sensor"].status != SensorStatus.ACTIVE:
            continue
        arrival = entry["first"]
        if arrival is None:
            arrival = first.emitted_epoch_s + distance / c
        start, end = audio_window(
            first_shot_s=first.emitted_epoch_s,
            last_shot_s=last.emitted_epoch_s,
            first_arrival_s=arrival,
        )
        result.append({"sensor_id": sensor_id, "distance_m": distance, "start": start, "end": end})
    result.sort(key=lambda r: (r["distance_m"], r["sensor_id"]))
    return result


def audio_allowed(*, incident: Incident) -> bool:
    """Privacy policy: audio only for explosive-like sounds, i.e. while the machine's
    current call (the stored probabilities) is explosive-like, or once a reviewer promoted
    the incident to review. An incident stays in review when later shots make it a
    jackhammer (a human decides it), but no more audio is asked for it."""
    from apps.acoustics.classifier import ClassifierError, is_explosive_like
    from apps.review.selectors import promoted_to_review

    try:
        if is_explosive_like(incident.class_probabilities or {}):
            return True
    except ClassifierError:  # unclassified (empty) or unreadable probabilities
        pass
    return promoted_to_review(incident_id=incident.pk)


def audio_requests_sync(
    *, incident: Incident, c: float, now: dt.datetime | None = None, reviewer_asked: bool = False
) -> None:
    """Make the incident's pending requests those of its nearest sensors (at most N).

    Only for incidents in review, and only while audio is allowed (``audio_allowed``, or
    ``reviewer_asked`` by a promotion): otherwise its pending requests are withdrawn
    (nothing more is uploaded; clips already stored stay) and are issued again should
    audio be allowed once more. Fulfilled requests count towards N and never change;
    pending ones get the window recomputed by the rule (a refinement may extend it, never
    beyond the rule); a pending request of a sensor that is no longer among the nearest
    is withdrawn. Expired or refused requests are not issued again.
    """
    if incident.status != IncidentStatus.PENDING_REVIEW:
        raise ValueError("audio may only be requested for incidents in review")
    if not (reviewer_asked or audio_allowed(incident=incident)):
        AudioRequest.objects.filter(incident=incident, status=AudioRequestStatus.PENDING).update(
            status=AudioRequestStatus.WITHDRAWN, updated_at=timezone.now()
        )
        return
    now = now or timezone.now()
    limit = int(incident_setting("AUDIO_SENSORS_PER_INCIDENT"))
    existing = {
        r.sensor_id: r for r in AudioRequest.objects.select_for_update().filter(incident=incident)
    }
    fulfilled = {s for s, r in existing.items() if r.status == AudioRequestStatus.FULFILLED}
    blocked = {
        s
        for s, r in existing.items()
        if r.status in (AudioRequestStatus.EXPIRED, AudioRequestStatus.REFUSED)
    }
    wanted = [
        c_
        for c_ in audio_candidates(incident=incident, c=c)
        if c_["sensor_id"] not in fulfilled and c_["sensor_id"] not in blocked
    ][: max(0, limit - len(fulfilled))]
    wanted_ids = {w["sensor_id"] for w in wanted}
    for sensor_id, request in existing.items():
        if request.status == AudioRequestStatus.PENDING and sensor_id not in wanted_ids:
            request.status = AudioRequestStatus.WITHDRAWN
            request.save(update_fields=["status", "updated_at"])
    expiry = dt.timedelta(seconds=incident_setting("AUDIO_REQUEST_EXPIRY_S"))
    rate = int(incident_setting("AUDIO_SAMPLE_RATE"))
    for want in wanted:
        start, end = _utc(want["start"]), _utc(want["end"])
        request = existing.get(want["sensor_id"])
        if request is None:
            AudioRequest.objects.create(
                incident=incident,
                sensor_id=want["sensor_id"],
                window_start=start,
                window_end=end,
                sample_rate=rate,
                distance_m=want["distance_m"],
                created_at=now,
                expires_at=now + expiry,
            )
            continue
        if request.status == AudioRequestStatus.WITHDRAWN:
            request.status = AudioRequestStatus.PENDING
            request.expires_at = max(request.expires_at, now + expiry)
        request.window_start, request.window_end = start, end
        request.distance_m = want["distance_m"]
        request.save()


def audio_requests_expire(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    return AudioRequest.objects.filter(
        status=AudioRequestStatus.PENDING, expires_at__lte=now
    ).update(status=AudioRequestStatus.EXPIRED, updated_at=now)


# --- Audio uploads ----------------------------------------------------------------------------


class AudioUploadError(Exception):
    """An upload refused; ``status`` is the HTTP status the API answers with."""

    status = 400
    title = "Bad Request"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class AudioRequestNotFound(AudioUploadError):
    status, title = 404, "Not Found"


class AudioRequestConflict(AudioUploadError):
    status, title = 409, "Conflict"


class AudioRequestGone(AudioUploadError):
    status, title = 410, "Gone"


class AudioTooLarge(AudioUploadError):
    status, title = 413, "Content Too Large"


class AudioMalformed(AudioUploadError):
    status, title = 400, "Bad Request"


class AudioOutsideRequest(AudioUploadError):
    status, title = 422, "Unprocessable Content"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def audio_request_check_open(*, request: AudioRequest, now: dt.datetime) -> None:
    """Refuse an upload to a request that is fulfilled or withdrawn (409) or expired (410)."""
    if request.status == AudioRequestStatus.FULFILLED:
        raise AudioRequestConflict("This audio request is already fulfilled.")
    if request.status == AudioRequestStatus.EXPIRED or (
        request.status == AudioRequestStatus.PENDING and request.expires_at <= now
    ):
        raise AudioRequestGone("This audio request has expired.")
    if request.status != AudioRequestStatus.PENDING:
        raise AudioRequestConflict(f"This audio request is {request.status}, not pending.")


@dataclass(frozen=True)
class CheckedAudio:
    start: dt.datetime
    n_samples: int
    duration_s: float


def audio_upload_check(
    *, request: AudioRequest, body: bytes, start_time: dt.datetime
) -> CheckedAudio:
    """Refuse (``AudioUploadError``) a WAV that is not a clip of ``request``'s window.

    Too large for the window (413), not a 16-bit PCM mono WAV (400), another sample
    rate, empty, or with a sample outside the window (422). Sample i was taken at
    ``start_time + i / rate``; all of them must lie in [window_start, window_end]. Shared
    by incident and investigation uploads, so both follow exactly the same rule.
    """
    window_s = request.window_s
    max_bytes = math.ceil(window_s * request.sample_rate) * 2 + WAV_HEADER_ALLOWANCE_BYTES
    if len(body) > max_bytes:
        raise AudioTooLarge(
            f"{len(body)} bytes is more than a {window_s:.3f} s window at "
            f"{request.sample_rate} Hz can hold ({max_bytes} bytes)."
        )
    try:
        wav = parse_wav_bytes(body, where="upload")
    except AudioFileError as error:
        raise AudioMalformed(f"Not a 16-bit PCM mono WAV: {error}") from None
    if wav.sample_rate != request.sample_rate:
        raise AudioOutsideRequest(
            f"The sample rate is {wav.sample_rate} Hz; the request asks for "
            f"{request.sample_rate} Hz."
        )
    n_samples = len(wav.samples)
    if n_samples == 0:
        raise AudioOutsideRequest("The WAV holds no samples.")
    # Sample i was taken at start + i / rate; every sample must lie inside the window
    # (only the microsecond rounding of the ISO times is tolerated).
    duration = n_samples / wav.sample_rate
    span = (n_samples - 1) / wav.sample_rate
    if span > window_s + ROUNDING_S:
        raise AudioOutsideRequest(
            f"The clip spans {span:.6f} s of samples; the window is {window_s:.6f} s."
        )
    start = start_time.astimezone(dt.UTC)
    last = start + dt.timedelta(seconds=span)
    rounding = dt.timedelta(seconds=ROUNDING_S)
    if start < request.window_start - rounding or last > request.window_end + rounding:
        raise AudioOutsideRequest(
            f"The samples [{_iso(start)}, {_iso(last)}] reach outside the window "
            f"[{_iso(request.window_start)}, {_iso(request.window_end)}]."
        )
    return CheckedAudio(start=start, n_samples=n_samples, duration_s=duration)


def audio_clip_store(
    *,
    sensor: Sensor,
    request_id: int,
    body: bytes,
    start_time: dt.datetime,
    now: dt.datetime | None = None,
) -> AudioClip:
    """Store an uploaded WAV against a pending request of this sensor, or refuse it.

    Refusals raise an ``AudioUploadError`` subclass and store nothing: unknown request or
    another sensor's (404), already fulfilled or withdrawn (409), expired (410), larger
    than the window can hold (413), not a 16-bit PCM mono WAV (400), another sample rate,
    empty, or with a sample outside the window (422). Sample i of the clip was taken at
    ``start_time + i / rate``; all of them must lie in [window_start, window_end].
    """
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            AudioRequest.objects.select_for_update()
            .select_related("incident__agency")
            .filter(pk=request_id, sensor=sensor, incident__isnull=False)
            .first()
        )
        if request is None:
            raise AudioRequestNotFound(f"No audio request {request_id} for this sensor.")
        audio_request_check_open(request=request, now=now)
        if request.incident.status not in (IncidentStatus.PENDING_REVIEW, IncidentStatus.PUBLISHED):
            raise AudioRequestConflict("The incident no longer takes audio.")

        checked = audio_upload_check(request=request, body=body, start_time=start_time)
        start, n_samples, duration = checked.start, checked.n_samples, checked.duration_s
        digest = hashlib.sha256(body).hexdigest()
        clip = AudioClip(
            incident=request.incident,
            sensor=sensor,
            request=request,
            start_time=start,
            sample_rate=request.sample_rate,
            n_samples=n_samples,
            duration_s=duration,
            sha256=digest,
            size_bytes=len(body),
            distance_m=request.distance_m,
            created_at=now,
        )
        clip_store(
            clip=clip,
            body=body,
            audio_request=request,
            now=now,
            audit=lambda stored: record_event(
                action="incident.audio_stored",
                agency=request.incident.agency,
                target=request.incident,
                details={
                    "clip": stored.pk,
                    "sensor": sensor.serial_number,
                    "sha256": digest,
                    "start_utc": _iso(start),
                    "duration_s": round(duration, 6),
                    "distance_m": round(request.distance_m, 1),
                },
            ),
        )
    return clip


def clip_store(*, clip, body: bytes, audio_request: AudioRequest, now: dt.datetime, audit) -> None:
    """Write a clip's WAV file and row, mark its audio request fulfilled and ``audit(clip)``.

    Called inside the upload's transaction: if any step fails the rows roll back and the
    file written before them is removed, so no clip is half-stored.
    """
    clip.file.save("clip.wav", ContentFile(body), save=False)
    try:
        clip.save()
        audio_request.status = AudioRequestStatus.FULFILLED
        audio_request.fulfilled_at = now
        audio_request.save(update_fields=["status", "fulfilled_at", "updated_at"])
        audit(clip)
    except BaseException:
        clip.file.delete(save=False)
        raise
