"""The per-sensor rate limit of /api/v1/sensor/* (counted in the cache, Redis when set)."""

from __future__ import annotations

import time
import uuid

import pytest
from django.test import override_settings

from apps.sensors.models import SensorPulse
from tests.sensors.support import HEARTBEAT, PULSES, batch, post_signed, register

pytestmark = pytest.mark.django_db


def _sensor(agency):
    # A fresh serial per test: counters live in the shared cache between tests.
    serial = f"RL-{uuid.uuid4().hex[:10]}"
    sensor, key = register(agency=agency, serial=serial)
    return serial, key


def _wait_for_window_start(window_s: int) -> None:
    """Start a test at the beginning of a window, so no boundary falls inside it."""
    left = window_s - time.time() % window_s
    if left < window_s - 0.2:
        time.sleep(left + 0.01)


@override_settings(SENSOR_API_RATE_LIMIT=3, SENSOR_API_RATE_WINDOW_S=5)
def test_a_sensor_over_its_limit_gets_429_problem_with_retry_after(client, agency):
    serial, key = _sensor(agency)
    other_serial, other_key = _sensor(agency)
    _wait_for_window_start(5)
    answers = [
        post_signed(client, PULSES, batch(2), key=key, serial=serial).status_code,
        post_signed(client, HEARTBEAT, {}, key=key, serial=serial).status_code,
        post_signed(client, PULSES, batch(2), key=key, serial=serial).status_code,
    ]
    assert answers == [202, 200, 202]
    refused_batch = batch(2)
    refused = post_signed(client, PULSES, refused_batch, key=key, serial=serial)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    body = refused.json()
    assert body["status"] == 429 and body["title"] == "Too Many Requests"
    assert 1 <= int(refused["Retry-After"]) <= 5
    # The refused batch was not stored; the sensor's first two batches were.
    stored = set(SensorPulse.objects.values_list("pulse_uuid", flat=True))
    assert not {uuid.UUID(p["pulse_uuid"]) for p in refused_batch["pulses"]} & stored
    assert SensorPulse.objects.filter(sensor__serial_number=serial).count() == 4
    # Another sensor has its own budget.
    assert (
        post_signed(client, PULSES, batch(1), key=other_key, serial=other_serial).status_code == 202
    )


@override_settings(SENSOR_API_RATE_LIMIT=2, SENSOR_API_RATE_WINDOW_S=2)
def test_the_budget_returns_in_the_next_window(client, agency):
    serial, key = _sensor(agency)
    _wait_for_window_start(2)
    statuses = [
        post_signed(client, HEARTBEAT, {}, key=key, serial=serial).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    wait = int(post_signed(client, HEARTBEAT, {}, key=key, serial=serial)["Retry-After"])
    time.sleep(wait + 0.05)
    assert post_signed(client, HEARTBEAT, {}, key=key, serial=serial).status_code == 200


@override_settings(SENSOR_API_RATE_LIMIT=0)
def test_a_limit_of_zero_turns_it_off(client, agency):
    serial, key = _sensor(agency)
    statuses = {
        post_signed(client, HEARTBEAT, {}, key=key, serial=serial).status_code for _ in range(8)
    }
    assert statuses == {200}


def test_unsigned_requests_are_refused_by_authentication_not_counted(client, agency):
    serial, key = _sensor(agency)
    with override_settings(SENSOR_API_RATE_LIMIT=1):
        for _ in range(3):
            assert client.post(PULSES, batch(1), content_type="application/json").status_code == 401
        assert post_signed(client, HEARTBEAT, {}, key=key, serial=serial).status_code == 200


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@override_settings(SENSOR_API_RATE_LIMIT=1)
def test_an_unreachable_cache_does_not_refuse_sensor_data(client, agency):
    serial, key = _sensor(agency)
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    with override_settings(CACHES=unreachable):
        statuses = [
            post_signed(client, PULSES, batch(1), key=key, serial=serial).status_code
            for _ in range(3)
        ]
    assert statuses == [202, 202, 202]
    assert SensorPulse.objects.filter(sensor__serial_number=serial).count() == 3
