"""The sensor registry and what sensors send: pulses (summary data, never audio), heartbeats.

A sensor authenticates every request with its Ed25519 key (RFC 9421 signatures, see
``apps.sensors.authentication``). Pulses are stored once per ``pulse_uuid`` (the unique
constraint makes re-sent batches and concurrent duplicates harmless) and carry a snapshot
of the sensor's position and coverage area so the pipeline can work on one table.
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class SensorStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    RETIRED = "retired", "Retired"


class Sensor(models.Model):
    serial_number = models.CharField(
        max_length=64, unique=True, help_text="Also the key id of the sensor's signatures."
    )
    agency = models.ForeignKey("accounts.Agency", on_delete=models.PROTECT, related_name="sensors")
    coverage_area = models.ForeignKey(
        "geo.CoverageArea",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sensors",
    )
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    elevation_m = models.FloatField(
        validators=[MinValueValidator(-500), MaxValueValidator(9000)],
        help_text="Metres above mean sea level.",
    )
    position_error_m = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0)],
        help_text="Estimated horizontal error of the position (GNSS fix or survey).",
    )
    # Raw 32-byte Ed25519 public key, base64 (standard alphabet, padded).
    public_key = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=SensorStatus.choices, default=SensorStatus.ACTIVE, db_index=True
    )
    firmware = models.CharField(max_length=64, blank=True)
    registered_at = models.DateTimeField(default=timezone.now, editable=False)

    # Health, updated by heartbeats.
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    missed_heartbeats = models.PositiveIntegerField(default=0)
    clock_error_us = models.FloatField(
        null=True, blank=True, help_text="Last reported offset of the sensor clock (µs)."
    )
    clock_synced = models.BooleanField(default=False)
    buffer_status = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["serial_number"]
        indexes = [models.Index(fields=["agency", "status"])]

    def __str__(self) -> str:
        return self.serial_number

    @property
    def accepts_requests(self) -> bool:
        return self.status == SensorStatus.ACTIVE


class SensorPulse(models.Model):
    """One impulse reported by one sensor: time, level and envelope features, no audio."""

    pulse_uuid = models.UUIDField(unique=True)
    # No single-column indexes on the two keys: the (key, arrival_time) indexes below serve
    # those lookups too, and every index costs each insert at ingest rate.
    sensor = models.ForeignKey(
        Sensor, on_delete=models.PROTECT, related_name="pulses", db_index=False
    )
    # Snapshot at receipt, so later moves of the sensor do not rewrite history.
    coverage_area = models.ForeignKey(
        "geo.CoverageArea",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    latitude = models.FloatField()
    longitude = models.FloatField()
    elevation_m = models.FloatField()
    position_error_m = models.FloatField()

    arrival_time = models.DateTimeField(help_text="UTC, microsecond resolution.")
    # The same instant as float seconds since the epoch, for the numerical core.
    arrival_epoch_s = models.FloatField()
    power_db_spl = models.FloatField()
    snr_db = models.FloatField()
    features = models.JSONField(default=dict, blank=True)

    received_at = models.DateTimeField(default=timezone.now)
    # The request (batch) that stored the pulse; lets a request count what it inserted.
    batch_id = models.UUIDField(default=uuid.uuid4)
    # Set by the pipeline once the pulse has been considered for association.
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["arrival_time", "id"]
        indexes = [
            models.Index(fields=["coverage_area", "arrival_time"], name="pulse_area_time"),
            models.Index(fields=["sensor", "arrival_time"], name="pulse_sensor_time"),
            # The pipeline's queue: pulses not yet considered, per area.
            models.Index(
                fields=["coverage_area", "arrival_time"],
                name="pulse_unprocessed",
                condition=models.Q(processed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sensor_id}@{self.arrival_time.isoformat()}"


class UsedNonce(models.Model):
    """Signature nonces seen in the replay window; the constraint refuses a second use."""

    # The unique (sensor, nonce) constraint's index serves lookups by sensor.
    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="+", db_index=False)
    nonce = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sensor", "nonce"], name="unique_sensor_nonce")
        ]

    def __str__(self) -> str:
        return f"{self.sensor_id}:{self.nonce}"


class RefusalReason(models.TextChoices):
    MISSING_SIGNATURE = "missing_signature", "Missing or malformed signature"
    UNKNOWN_SENSOR = "unknown_sensor", "Unknown sensor"
    BAD_SIGNATURE = "bad_signature", "Signature does not verify"
    DIGEST_MISMATCH = "digest_mismatch", "Body does not match its Content-Digest"
    STALE = "stale", "Signature too old"
    FUTURE = "future", "Signature created in the future"
    REPLAYED_NONCE = "replayed_nonce", "Nonce already used"
    MISSING_COMPONENTS = "missing_components", "Required components not signed"
    SENSOR_NOT_ACTIVE = "sensor_not_active", "Sensor disabled or retired"
    TOO_LARGE = "too_large", "Request body too large"


class RefusedRequest(models.Model):
    """A sensor API request refused before it reached the view (also logged)."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.CharField(max_length=32, choices=RefusalReason.choices)
    status_code = models.PositiveSmallIntegerField()
    key_id = models.CharField(max_length=128, blank=True, help_text="As claimed by the request.")
    sensor = models.ForeignKey(
        Sensor, null=True, blank=True, on_delete=models.SET_NULL, related_name="refused_requests"
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.reason} {self.key_id}"
