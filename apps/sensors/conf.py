"""Sensor API settings with their defaults; override any of them in Django settings."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Signatures older than this (seconds) are refused, and so are replays inside it.
    "SENSOR_SIGNATURE_MAX_AGE_S": 30,
    # Tolerated clock lead of a sensor: a signature created further ahead is refused.
    "SENSOR_SIGNATURE_MAX_FUTURE_S": 5,
    # Used nonces are kept at least this long (must exceed max age + future skew).
    "SENSOR_NONCE_RETENTION_S": 120,
    # Largest request body the sensor API reads.
    "SENSOR_API_MAX_BODY_BYTES": 2_000_000,
    "SENSOR_PULSE_BATCH_MAX": 1000,
    # Arrival times older than this (store-and-forward after an outage; the sensor's
    # buffer is 72 h) or further ahead than the future limit are refused.
    "SENSOR_PULSE_MAX_AGE_S": 72 * 3600,
    "SENSOR_PULSE_MAX_FUTURE_S": 10,
    # Summary data only: a pulse's features stay small (no room for waveforms).
    "SENSOR_PULSE_FEATURES_MAX_BYTES": 2048,
    "SENSOR_HEARTBEAT_INTERVAL_S": 60,
}


def sensor_setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
