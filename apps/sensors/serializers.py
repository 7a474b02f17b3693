"""Validation of what sensors send. Nothing here writes; services store validated data."""

from __future__ import annotations

import datetime as dt
import json

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.acoustics.numbers import finite_float
from apps.sensors.conf import sensor_setting

MAX_FEATURES = 64
MAX_FEATURE_NAME = 64


class StrictFloatField(serializers.FloatField):
    """A JSON number (not a string, not a boolean), finite."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATETIME)
class UtcDateTimeField(serializers.Field):
    """ISO-8601 with an explicit UTC offset (``Z`` or ``+00:00``), microseconds allowed."""

    default_error_messages = {
        "invalid": "An ISO-8601 date-time with a time zone is required.",
        "naive": "The time needs a time zone (e.g. a trailing Z).",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            value = dt.datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            self.fail("invalid")

    def to_representation(self, value):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def validate_features(value) -> dict[str, float]:
    """Summary features: a flat object of at most 64 finite numbers (no room for audio)."""
    if not isinstance(value, dict):
        raise serializers.ValidationError("Features must be an object of numbers.")
    if len(value) > MAX_FEATURES:
        raise serializers.ValidationError(f"At most {MAX_FEATURES} features are allowed.")
    clean = {}
    for name, number in value.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_FEATURE_NAME:
            raise serializers.ValidationError(f"Feature names have 1 to {MAX_FEATURE_NAME} chars.")
        if not name.isprintable():  # e.g. NUL, which PostgreSQL's jsonb cannot store
            raise serializers.ValidationError("Feature names must be printable text.")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise serializers.ValidationError(f"Feature {name!r} must be a number.")
        if finite_float(number) is None:
            raise serializers.ValidationError(f"Feature {name!r} must be finite.")
        clean[name] = number
    if len(json.dumps(clean)) > sensor_setting("SENSOR_PULSE_FEATURES_MAX_BYTES"):
        raise serializers.ValidationError("The features are too large.")
    return clean


@extend_schema_field(
    {"type": "object", "additionalProperties": {"type": "number"}, "maxProperties": MAX_FEATURES}
)
class FeaturesField(serializers.JSONField):
    pass


class PulseSerializer(serializers.Serializer):
    pulse_uuid = serializers.UUIDField()
    arrival_time_utc = UtcDateTimeField(
        help_text="Arrival time at the sensor, ISO-8601 UTC, microseconds allowed."
    )
    power_db_spl = StrictFloatField(min_value=0, max_value=200)
    signal_to_noise_db = StrictFloatField(min_value=-60, max_value=200)
    features = FeaturesField(
        required=False, default=dict, help_text="Flat object of up to 64 finite numbers."
    )

    def validate_features(self, value):
        return validate_features(value)

    def validate_arrival_time_utc(self, value: dt.datetime) -> dt.datetime:
        now = timezone.now()
        max_age = sensor_setting("SENSOR_PULSE_MAX_AGE_S")
        max_future = sensor_setting("SENSOR_PULSE_MAX_FUTURE_S")
        if value > now + dt.timedelta(seconds=max_future):
            raise serializers.ValidationError(
                f"The arrival time is more than {max_future} s ahead of the server clock."
            )
        if value < now - dt.timedelta(seconds=max_age):
            raise serializers.ValidationError(f"The arrival time is older than {max_age} s.")
        return value


class PulseBatchSerializer(serializers.Serializer):
    pulses = PulseSerializer(many=True, allow_empty=False)

    def to_internal_value(self, data):
        from apps.sensors.authentication import PayloadTooLarge

        limit = sensor_setting("SENSOR_PULSE_BATCH_MAX")
        if isinstance(data, dict) and isinstance(data.get("pulses"), list):
            if len(data["pulses"]) > limit:
                raise PayloadTooLarge(f"A batch holds at most {limit} pulses.")
        return super().to_internal_value(data)

    def validate_pulses(self, pulses: list[dict]) -> list[dict]:
        # Same shape as DRF's per-item errors: {index: {field: [messages]}}.
        seen: set = set()
        errors: dict[str, dict] = {}
        for index, pulse in enumerate(pulses):
            if pulse["pulse_uuid"] in seen:
                errors[str(index)] = {"pulse_uuid": ["Repeated in this batch."]}
            seen.add(pulse["pulse_uuid"])
        if errors:
            raise serializers.ValidationError(errors)
        return pulses

    def pulses_for_ingest(self) -> list[dict]:
        return [
            {
                "pulse_uuid": p["pulse_uuid"],
                "arrival_time": p["arrival_time_utc"],
                "power_db_spl": p["power_db_spl"],
                "snr_db": p["signal_to_noise_db"],
                "features": p["features"],
            }
            for p in self.validated_data["pulses"]
        ]


class PulseBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Pulses stored by this request.")
    duplicates = serializers.IntegerField(help_text="Pulses already stored (acknowledged).")


class PositionFixSerializer(serializers.Serializer):
    latitude = StrictFloatField(min_value=-90, max_value=90)
    longitude = StrictFloatField(min_value=-180, max_value=180)
    elevation_m = StrictFloatField(min_value=-500, max_value=9000)
    error_m = StrictFloatField(min_value=0, max_value=10_000)


class ClockStatusSerializer(serializers.Serializer):
    offset_us = StrictFloatField(
        min_value=-3.6e9, max_value=3.6e9, help_text="Sensor clock minus true time (µs)."
    )
    synced = serializers.BooleanField()


class BufferStatusSerializer(serializers.Serializer):
    oldest_sample_utc = UtcDateTimeField(required=False, allow_null=True)
    bytes = serializers.IntegerField(min_value=0, max_value=2**50)


class HeartbeatSerializer(serializers.Serializer):
    position = PositionFixSerializer(required=False, allow_null=True)
    clock = ClockStatusSerializer(required=False, allow_null=True)
    buffer = BufferStatusSerializer(required=False, allow_null=True)
    firmware = serializers.CharField(required=False, max_length=64, allow_blank=True)

    def validate_buffer(self, value):
        if value is None:
            return None
        oldest = value.get("oldest_sample_utc")
        return {
            "oldest_sample_utc": UtcDateTimeField().to_representation(oldest) if oldest else None,
            "bytes": value["bytes"],
            "reported_at": UtcDateTimeField().to_representation(timezone.now()),
        }


class HeartbeatResultSerializer(serializers.Serializer):
    serial = serializers.CharField()
    status = serializers.CharField()
    server_time_utc = serializers.CharField()
    heartbeat_interval_s = serializers.IntegerField()


class AudioRequestSerializer(serializers.Serializer):
    """One pending audio request as the sensor sees it (of an incident or an investigation)."""

    id = serializers.IntegerField()
    incident = serializers.CharField(
        source="incident.reference",
        allow_null=True,
        help_text="<system_id>-<number>; null on an investigation's request.",
    )
    investigation = serializers.CharField(
        source="investigation.reference",
        required=False,
        help_text="INV-<system_id>-<number>; only on an investigation's request.",
    )
    start_utc = UtcDateTimeField(source="window_start", help_text="Earliest first sample.")
    end_utc = UtcDateTimeField(source="window_end", help_text="Latest end of the clip.")
    sample_rate = serializers.IntegerField()
    expires_at = UtcDateTimeField()


class AudioRequestListSerializer(serializers.Serializer):
    """The poll's answer; its exact bytes are signed with the server's key."""

    serial = serializers.CharField(help_text="The sensor the answer is for.")
    nonce = serializers.CharField(
        help_text="The nonce of the poll's own signature (an answer fits one poll only)."
    )
    issued_at = UtcDateTimeField(help_text="When the server signed the answer.")
    requests = AudioRequestSerializer(many=True)


class AudioStoredSerializer(serializers.Serializer):
    status = serializers.CharField()
    sha256 = serializers.CharField()
