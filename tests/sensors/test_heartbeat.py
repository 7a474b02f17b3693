"""POST /api/v1/sensor/heartbeat: position fix, clock status and buffer status."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.sensors.models import Sensor
from apps.sensors.services import sensors_update_missed_heartbeats
from tests.sensors.support import HEARTBEAT, post_signed

pytestmark = pytest.mark.django_db

BEAT = {
    "position": {"latitude": 41.8801, "longitude": -87.6302, "elevation_m": 182.5, "error_m": 2.5},
    "clock": {"offset_us": -12.5, "synced": True},
    "buffer": {"oldest_sample_utc": "2026-11-20T06:00:00.250000Z", "bytes": 5_000_000_000},
    "firmware": "agent-1.4.2",
}


def test_heartbeat_updates_the_sensor(client, sensor, key):
    Sensor.objects.filter(pk=sensor.pk).update(missed_heartbeats=4)
    before = timezone.now()
    response = post_signed(client, HEARTBEAT, BEAT, key=key, serial="S-0001")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["serial"] == "S-0001" and body["status"] == "active"
    assert body["heartbeat_interval_s"] == 60
    assert body["server_time_utc"].endswith("Z")
    sensor.refresh_from_db()
    assert sensor.last_heartbeat_at >= before
    assert sensor.missed_heartbeats == 0
    assert (sensor.latitude, sensor.longitude) == (41.8801, -87.6302)
    assert (sensor.elevation_m, sensor.position_error_m) == (182.5, 2.5)
    assert (sensor.clock_error_us, sensor.clock_synced) == (-12.5, True)
    assert sensor.buffer_status["oldest_sample_utc"] == "2026-11-20T06:00:00.250000Z"
    assert sensor.buffer_status["bytes"] == 5_000_000_000
    assert sensor.firmware == "agent-1.4.2"


def test_heartbeat_without_a_fix_keeps_the_position(client, sensor, key):
    response = post_signed(
        client, HEARTBEAT, {"clock": {"offset_us": 3.0, "synced": False}}, key=key, serial="S-0001"
    )
    assert response.status_code == 200
    sensor.refresh_from_db()
    assert (sensor.latitude, sensor.longitude) == (41.88, -87.63)
    assert (sensor.clock_error_us, sensor.clock_synced) == (3.0, False)
    assert sensor.last_heartbeat_at is not None


def test_invalid_heartbeat_changes_nothing(client, sensor, key):
    bad = {**BEAT, "position": {**BEAT["position"], "latitude": 95.0}}
    response = post_signed(client, HEARTBEAT, bad, key=key, serial="S-0001")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "latitude" in response.json()["errors"]["position"]
    sensor.refresh_from_db()
    assert sensor.last_heartbeat_at is None
    assert sensor.latitude == 41.88


def test_unsigned_heartbeat_is_refused(client, sensor):
    response = client.post(HEARTBEAT, data=BEAT, content_type="application/json")
    assert response.status_code == 401
    sensor.refresh_from_db()
    assert sensor.last_heartbeat_at is None


def test_missed_heartbeats_are_counted(sensor, settings):
    settings.SENSOR_HEARTBEAT_INTERVAL_S = 60
    now = timezone.now()
    Sensor.objects.filter(pk=sensor.pk).update(last_heartbeat_at=now - dt.timedelta(seconds=190))
    assert sensors_update_missed_heartbeats(now=now) == 1
    sensor.refresh_from_db()
    assert sensor.missed_heartbeats == 3
