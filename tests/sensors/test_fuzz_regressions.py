"""Inputs the schemathesis and hypothesis fuzzers (tests/security/) found to crash the
sensor API, each now refused with a 4xx problem body and nothing stored."""

import json

import pytest

from apps.sensors.models import SensorPulse
from tests.incidents.support import put_audio, wav_bytes
from tests.sensors.support import HEARTBEAT, PULSES, post_signed, pulse

pytestmark = pytest.mark.django_db

# Valid ISO-8601 with an offset, but before 0001-01-01 once converted to UTC.
BEFORE_YEAR_ONE_IN_UTC = "0001-01-01T00:00:00+01:00"
AFTER_YEAR_9999_IN_UTC = "9999-12-31T23:59:59-01:00"


@pytest.mark.parametrize("when", [BEFORE_YEAR_ONE_IN_UTC, AFTER_YEAR_9999_IN_UTC])
def test_a_pulse_time_out_of_range_in_utc_is_a_400(client, sensor, key, when):
    response = post_signed(
        client,
        PULSES,
        {"pulses": [pulse(arrival_time_utc=when)]},
        key=key,
        serial=sensor.serial_number,
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "arrival_time_utc" in response.json()["errors"]["pulses"]["0"]
    assert not SensorPulse.objects.exists()


@pytest.mark.parametrize("when", [BEFORE_YEAR_ONE_IN_UTC, AFTER_YEAR_9999_IN_UTC])
def test_an_audio_start_out_of_range_in_utc_is_a_400(client, sensor, key, when):
    response = put_audio(
        client,
        request_id=1,
        body=wav_bytes(seconds=0.1),
        start=when,
        key=key,
        serial=sensor.serial_number,
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "Audio-Start-UTC" in response.json()["detail"]


@pytest.mark.parametrize("path", [PULSES, HEARTBEAT])
def test_json_nested_too_deeply_is_a_400(client, sensor, key, path):
    body = b"[" * 100_000 + b"]" * 100_000
    response = post_signed(client, path, body, key=key, serial=sensor.serial_number)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "nested too deeply" in response.json()["detail"]
    assert not SensorPulse.objects.exists()


def test_a_feature_beyond_any_float_is_a_400(client, sensor, key):
    body = b'{"pulses": [%s]}' % json.dumps(pulse(features={"band": 1})).encode().replace(
        b'"band": 1', b'"band": 1' + b"0" * 400
    )
    response = post_signed(client, PULSES, body, key=key, serial=sensor.serial_number)
    assert response.status_code == 400, response.content
    assert "must be finite" in str(response.json()["errors"])
    assert not SensorPulse.objects.exists()


def test_a_feature_name_with_a_nul_character_is_refused_not_a_server_error():
    from rest_framework import serializers as drf_serializers

    from apps.sensors.serializers import validate_features

    with pytest.raises(drf_serializers.ValidationError):
        validate_features({"\u0000": 1.0})
    assert validate_features({"rise_time_ms": 2.5}) == {"rise_time_ms": 2.5}
