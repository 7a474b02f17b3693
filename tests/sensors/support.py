"""Helpers for sensor API tests: real keys, real signatures, requests through the test client."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from django.utils import timezone

from apps.sensors.signing import generate_private_key, public_key_b64, sign_request

BASE = "http://testserver"
PULSES = "/api/v1/sensor/pulses"
HEARTBEAT = "/api/v1/sensor/heartbeat"


def register(*, agency, serial="S-0001", lat=41.88, lon=-87.63, key=None, **extra):
    from apps.sensors.services import sensor_register

    key = key or generate_private_key()
    sensor = sensor_register(
        agency=agency,
        serial=serial,
        latitude=lat,
        longitude=lon,
        elevation_m=180.0,
        public_key=public_key_b64(key.public_key()),
        **extra,
    )
    return sensor, key


def pulse(*, when: dt.datetime | None = None, **overrides) -> dict:
    when = when or timezone.now() - dt.timedelta(seconds=1)
    body = {
        "pulse_uuid": str(uuid.uuid4()),
        "arrival_time_utc": when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "power_db_spl": 112.5,
        "signal_to_noise_db": 24.0,
        "features": {"rise_time_ms": 0.8, "duration_ms": 12.0, "band_3": 0.31},
    }
    body.update(overrides)
    return body


def batch(n: int, **overrides) -> dict:
    return {"pulses": [pulse(**overrides) for _ in range(n)]}


def encode(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def signed_headers(
    *,
    path: str,
    body: bytes,
    key,
    serial: str,
    method: str = "POST",
    content_type: str | None = "application/json",
    base: str = BASE,
    **sign_kwargs,
) -> dict[str, str]:
    return sign_request(
        method=method,
        url=base + path,
        body=body,
        content_type=content_type,
        serial=serial,
        private_key=key,
        **sign_kwargs,
    )


def post_signed(client, path, payload, *, key, serial, send_body=None, headers=None, **kw):
    """Sign ``payload`` and POST it; ``send_body`` replaces the body after signing."""
    body = encode(payload)
    signed = (
        headers
        if headers is not None
        else signed_headers(path=path, body=body, key=key, serial=serial, **kw)
    )
    extra = {k: v for k, v in signed.items() if k.lower() != "content-type"}
    return client.generic(
        "POST",
        path,
        data=send_body if send_body is not None else body,
        content_type=signed.get("Content-Type", "application/json"),
        headers=extra,
    )
