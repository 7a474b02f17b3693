"""Writes on the sensor registry: registration, refused requests, nonces, pulses, heartbeats."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.acoustics.numbers import finite_float
from apps.audit.services import record_event
from apps.geo.models import CoverageArea
from apps.geo.polygons import GeometryError, geometry_contains
from apps.sensors.conf import sensor_setting
from apps.sensors.models import (
    RefusedRequest,
    Sensor,
    SensorPulse,
    SensorStatus,
    UsedNonce,
)
from apps.sensors.signing import KeyFormatError, load_public_key, public_key_b64

logger = logging.getLogger("apps.sensors")


# --- Registry -------------------------------------------------------------------------------


def _coverage_area_for(*, agency, latitude: float, longitude: float) -> CoverageArea | None:
    for area in CoverageArea.objects.filter(agency=agency).order_by("name", "pk"):
        try:
            if geometry_contains(geometry=area.boundary, lon=longitude, lat=latitude):
                return area
        except GeometryError:
            continue
    return None


def sensor_register(
    *,
    agency,
    serial: str,
    latitude: float,
    longitude: float,
    elevation_m: float,
    public_key: str | bytes,
    position_error_m: float = 5.0,
    firmware: str = "",
    coverage_area: CoverageArea | None = None,
    actor=None,
) -> Sensor:
    """Register a sensor with its Ed25519 public key (PEM or raw base64).

    The coverage area defaults to the agency's area that contains the position.
    Raises ``ValidationError`` (nothing written) on a bad key, position or duplicate serial.
    """
    serial = (serial or "").strip()
    try:
        key_b64 = public_key_b64(load_public_key(public_key))
    except KeyFormatError as exc:
        raise ValidationError({"public_key": f"Not a usable Ed25519 public key: {exc}."}) from exc
    for name, value in (
        ("latitude", latitude),
        ("longitude", longitude),
        ("elevation_m", elevation_m),
        ("position_error_m", position_error_m),
    ):
        if finite_float(value) is None:
            raise ValidationError({name: "Must be a finite number."})
    if coverage_area is not None and coverage_area.agency_id != agency.pk:
        raise ValidationError({"coverage_area": "The coverage area belongs to another agency."})
    if coverage_area is None:
        coverage_area = _coverage_area_for(agency=agency, latitude=latitude, longitude=longitude)
    sensor = Sensor(
        serial_number=serial,
        agency=agency,
        coverage_area=coverage_area,
        latitude=float(latitude),
        longitude=float(longitude),
        elevation_m=float(elevation_m),
        position_error_m=float(position_error_m),
        public_key=key_b64,
        firmware=firmware,
    )
    sensor.full_clean()  # includes the serial's uniqueness and the coordinate ranges
    try:
        with transaction.atomic():
            sensor.save()
            record_event(
                action="sensor.registered",
                actor=actor,
                agency=agency,
                target=sensor,
                details={
                    "serial": serial,
                    "latitude": sensor.latitude,
                    "longitude": sensor.longitude,
                    "elevation_m": sensor.elevation_m,
                    "coverage_area": coverage_area.name if coverage_area else None,
                    "public_key": key_b64,
                },
            )
    except IntegrityError as exc:  # a concurrent registration of the same serial
        raise ValidationError({"serial_number": "A sensor with this serial exists."}) from exc
    return sensor


def sensor_key_rotate(*, sensor: Sensor, public_key: str | bytes, actor=None) -> Sensor:
    """Replace the sensor's Ed25519 public key (a new key pair on the sensor, or a key that
    may have leaked). From the commit on only the new key's signatures verify; the old
    key's are refused. Audited as ``sensor.key_rotated`` with both public keys. Raises
    ``ValidationError`` (nothing written) for a key that is not usable or is the same."""
    try:
        key_b64 = public_key_b64(load_public_key(public_key))
    except KeyFormatError as exc:
        raise ValidationError({"public_key": f"Not a usable Ed25519 public key: {exc}."}) from exc
    with transaction.atomic():
        locked = Sensor.objects.select_for_update().get(pk=sensor.pk)
        previous = locked.public_key
        if key_b64 == previous:
            raise ValidationError({"public_key": "That is the sensor's current key."})
        locked.public_key = key_b64
        locked.save(update_fields=["public_key"])
        record_event(
            action="sensor.key_rotated",
            actor=actor,
            agency=locked.agency,
            target=locked,
            details={"serial": locked.serial_number, "from": previous, "to": key_b64},
        )
    sensor.public_key = key_b64
    return sensor


def sensor_set_status(*, sensor: Sensor, status: str, actor=None, request=None) -> Sensor:
    if status not in SensorStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    previous = sensor.status
    with transaction.atomic():
        sensor.status = status
        sensor.save(update_fields=["status"])
        record_event(
            action="sensor.status_changed",
            actor=actor,
            agency=sensor.agency,
            target=sensor,
            request=request,
            details={"from": previous, "to": status},
        )
    return sensor


# --- Request security ----------------------------------------------------------------------


def refused_request_record(
    *,
    reason: str,
    status_code: int,
    method: str,
    path: str,
    ip_address: str | None,
    key_id: str = "",
    sensor: Sensor | None = None,
    detail: str = "",
) -> RefusedRequest:
    """Log a refused sensor request (Python logging and a ``RefusedRequest`` row)."""
    logger.warning(
        "sensor request refused: reason=%s status=%s keyid=%r ip=%s %s %s: %s",
        reason,
        status_code,
        key_id,
        ip_address,
        method,
        path,
        detail,
    )
    return RefusedRequest.objects.create(
        reason=reason,
        status_code=status_code,
        key_id=key_id[:128],
        sensor=sensor,
        method=method[:10],
        path=path[:300],
        ip_address=ip_address or None,
        detail=detail[:300],
    )


_last_nonce_purge = 0.0


def nonce_consume(*, sensor: Sensor, nonce: str) -> bool:
    """Record a signature nonce; False when this sensor used it before (a replay).

    The unique constraint decides, so two concurrent replays cannot both pass. Old
    nonces are also purged here once a minute per process, so the table stays small
    even where no Celery beat runs (embedded mode).
    """
    global _last_nonce_purge
    try:
        with transaction.atomic():
            UsedNonce.objects.create(sensor=sensor, nonce=nonce)
    except IntegrityError:
        return False
    if time.monotonic() - _last_nonce_purge > 60:
        _last_nonce_purge = time.monotonic()
        used_nonces_purge()
    return True


def used_nonces_purge(*, now: dt.datetime | None = None) -> int:
    """Forget nonces older than the retention; stale signatures are refused anyway."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=sensor_setting("SENSOR_NONCE_RETENTION_S"))
    deleted, _ = UsedNonce.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- Pulses ----------------------------------------------------------------------------------


class PulseOwnershipConflict(Exception):
    """Some pulse uuids of the batch are already stored for another sensor."""

    def __init__(self, pulse_uuids: list[str]):
        super().__init__(", ".join(pulse_uuids))
        self.pulse_uuids = pulse_uuids


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    pulse_ids: list[int]


def pulses_ingest(*, sensor: Sensor, pulses: list[dict[str, Any]]) -> IngestResult:
    """Store a validated batch atomically; pulses already stored are acknowledged, not copied.

    Each pulse dict has ``pulse_uuid`` (UUID), ``arrival_time`` (aware datetime),
    ``power_db_spl``, ``snr_db`` and ``features``. Concurrent posts of the same pulses
    store each once: the unique constraint on ``pulse_uuid`` decides and the rows this
    request inserted are counted by its batch id. A uuid stored for another sensor
    raises ``PulseOwnershipConflict`` and nothing of the batch is stored.
    """
    batch_id = uuid.uuid4()
    now = timezone.now()
    # One insertion order for every request, so concurrent batches cannot deadlock.
    ordered = sorted(pulses, key=lambda p: str(p["pulse_uuid"]))
    rows = [
        SensorPulse(
            pulse_uuid=p["pulse_uuid"],
            sensor_id=sensor.pk,
            coverage_area_id=sensor.coverage_area_id,
            latitude=sensor.latitude,
            longitude=sensor.longitude,
            elevation_m=sensor.elevation_m,
            position_error_m=sensor.position_error_m,
            arrival_time=p["arrival_time"],
            arrival_epoch_s=p["arrival_time"].timestamp(),
            power_db_spl=p["power_db_spl"],
            snr_db=p["snr_db"],
            features=p.get("features") or {},
            received_at=now,
            batch_id=batch_id,
        )
        for p in ordered
    ]
    uuids = [row.pulse_uuid for row in rows]
    with transaction.atomic():
        SensorPulse.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        pulse_ids = list(
            SensorPulse.objects.filter(pulse_uuid__in=uuids, batch_id=batch_id)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if len(pulse_ids) < len(rows):
            foreign = list(
                SensorPulse.objects.filter(pulse_uuid__in=uuids)
                .exclude(sensor=sensor)
                .values_list("pulse_uuid", flat=True)[:20]
            )
            if foreign:
                raise PulseOwnershipConflict([str(u) for u in foreign])
        if pulse_ids:
            on_pulses_accepted(
                sensor_id=sensor.pk,
                pulse_ids=pulse_ids,
                coverage_area_id=sensor.coverage_area_id,
            )
    return IngestResult(
        accepted=len(pulse_ids), duplicates=len(rows) - len(pulse_ids), pulse_ids=pulse_ids
    )


def on_pulses_accepted(
    *, sensor_id: int, pulse_ids: list[int], coverage_area_id: int | None = None
) -> None:
    """Hook for newly stored pulses: once the transaction commits, queue the pipeline.

    Pulses of a coverage area go to that area's pipeline run (one queued run per area
    at a time; the run reads every unprocessed pulse of the area, so none is left out).
    Pulses of a sensor outside every coverage area cannot form incidents; they are only
    marked processed.
    """
    if coverage_area_id is None:
        from apps.sensors.tasks import process_pulse_batch

        ids = list(pulse_ids)
        # Robust: with the broker down the batch is still stored and acknowledged; the
        # sweep marks such pulses processed.
        transaction.on_commit(
            lambda: process_pulse_batch.delay(sensor_id=sensor_id, pulse_ids=ids), robust=True
        )
        return
    from apps.incidents.services import schedule_coverage_area

    transaction.on_commit(lambda: schedule_coverage_area(coverage_area_id=coverage_area_id))


def pulses_mark_processed(*, pulse_ids: list[int], now: dt.datetime | None = None) -> int:
    """Mark pulses as handed to the pipeline; idempotent (already marked rows stay as they are)."""
    return SensorPulse.objects.filter(id__in=pulse_ids, processed_at__isnull=True).update(
        processed_at=now or timezone.now()
    )


# --- Audio uploads --------------------------------------------------------------------------


def audio_upload_store(*, sensor: Sensor, request_id: int, body: bytes, start_time: dt.datetime):
    """Store a clip uploaded against one of the sensor's audio requests, or refuse it.

    An audio request is either an incident's (``apps.incidents.services.audio_clip_store``)
    or an investigation's (``apps.investigations.services.investigation_clip_store``);
    both check the upload with the same window rule and raise ``AudioUploadError``.
    """
    from apps.incidents.models import AudioRequest
    from apps.incidents.services import audio_clip_store
    from apps.investigations.services import investigation_clip_store

    # Which kind never changes after creation, so reading it unlocked is safe; the
    # store functions lock the request and check it again.
    investigation_id = (
        AudioRequest.objects.filter(pk=request_id, sensor=sensor)
        .values_list("investigation_id", flat=True)
        .first()
    )
    store = investigation_clip_store if investigation_id is not None else audio_clip_store
    return store(sensor=sensor, request_id=request_id, body=body, start_time=start_time)


# --- Heartbeats -----------------------------------------------------------------------------


def sensor_record_heartbeat(
    *,
    sensor: Sensor,
    position: dict[str, float] | None = None,
    clock: dict[str, Any] | None = None,
    buffer: dict[str, Any] | None = None,
    firmware: str | None = None,
    now: dt.datetime | None = None,
) -> Sensor:
    """Apply a validated heartbeat: position fix, clock status and buffer status."""
    now = now or timezone.now()
    fields = ["last_heartbeat_at", "missed_heartbeats"]
    sensor.last_heartbeat_at = now
    sensor.missed_heartbeats = 0
    if position:
        sensor.latitude = position["latitude"]
        sensor.longitude = position["longitude"]
        sensor.elevation_m = position["elevation_m"]
        sensor.position_error_m = position["error_m"]
        fields += ["latitude", "longitude", "elevation_m", "position_error_m"]
    if clock:
        sensor.clock_error_us = clock["offset_us"]
        sensor.clock_synced = clock["synced"]
        fields += ["clock_error_us", "clock_synced"]
    if buffer:
        sensor.buffer_status = buffer
        fields.append("buffer_status")
    if firmware is not None:
        sensor.firmware = firmware
        fields.append("firmware")
    sensor.save(update_fields=fields)
    return sensor


def sensors_update_missed_heartbeats(*, now: dt.datetime | None = None) -> int:
    """Count the heartbeats each active sensor has missed since its last one."""
    now = now or timezone.now()
    interval = sensor_setting("SENSOR_HEARTBEAT_INTERVAL_S")
    changed = 0
    active = Sensor.objects.filter(status=SensorStatus.ACTIVE)
    for sensor in active.only("pk", "last_heartbeat_at", "registered_at", "missed_heartbeats"):
        since = sensor.last_heartbeat_at or sensor.registered_at
        missed = max(0, int((now - since).total_seconds() // interval))
        if missed != sensor.missed_heartbeats:
            Sensor.objects.filter(pk=sensor.pk).update(missed_heartbeats=missed)
            changed += 1
    return changed
