"""POST /api/v1/sensor/pulses: whole batches validated and stored atomically, idempotently."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from apps.sensors.models import RefusedRequest, SensorPulse
from tests.sensors.support import PULSES, batch, post_signed, pulse, register

pytestmark = pytest.mark.django_db


def send(client, payload, key, serial="S-0001"):
    return post_signed(client, PULSES, payload, key=key, serial=serial)


def test_pulse_is_stored_with_microseconds_and_a_position_snapshot(client, sensor, key):
    when = timezone.now().replace(microsecond=123456) - dt.timedelta(seconds=2)
    item = pulse(when=when, power_db_spl=131.25, signal_to_noise_db=31.5)
    response = send(client, {"pulses": [item]}, key)
    assert response.status_code == 202
    stored = SensorPulse.objects.get()
    assert str(stored.pulse_uuid) == item["pulse_uuid"]
    assert stored.arrival_time == when
    assert stored.arrival_time.microsecond == 123456
    assert stored.arrival_epoch_s == pytest.approx(when.timestamp(), abs=1e-6)
    assert (stored.power_db_spl, stored.snr_db) == (131.25, 31.5)
    assert stored.features == item["features"]
    assert (stored.latitude, stored.longitude) == (sensor.latitude, sensor.longitude)
    assert stored.sensor == sensor


def test_offset_times_are_converted_to_utc(client, sensor, key):
    when = timezone.now() - dt.timedelta(seconds=5)
    local = when.astimezone(dt.timezone(dt.timedelta(hours=-6))).isoformat()
    response = send(client, {"pulses": [pulse(arrival_time_utc=local)]}, key)
    assert response.status_code == 202
    assert SensorPulse.objects.get().arrival_time == when


def test_one_bad_pulse_in_50_stores_nothing(client, sensor, key):
    payload = batch(50)
    payload["pulses"][37]["power_db_spl"] = "loud"
    response = send(client, payload, key)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    # Per-item errors, keyed by the index of each invalid pulse.
    errors = response.json()["errors"]["pulses"]
    assert errors == {"37": {"power_db_spl": ["A valid number is required."]}}
    assert SensorPulse.objects.count() == 0


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("pulse_uuid", "not-a-uuid", "valid UUID"),
        ("arrival_time_utc", "2026-11-21T05:00:00", "time zone"),
        ("arrival_time_utc", "yesterday", "ISO-8601"),
        ("power_db_spl", 1e308 * 10, "not JSON compliant"),  # Infinity: the parser refuses
        ("power_db_spl", "120", "valid number"),  # numbers, not strings
        ("power_db_spl", 900.0, "less than or equal to 200"),
        ("signal_to_noise_db", True, "valid number"),
        ("features", {"samples": [0.1, 0.2]}, "must be a number"),
        ("features", {f"f{i}": 1.0 for i in range(65)}, "At most 64"),
        ("features", "loud", "object of numbers"),
    ],
)
def test_invalid_pulses_are_refused_clearly(client, sensor, key, field, value, message):
    payload = {"pulses": [pulse(**{field: value})]}
    response = send(client, payload, key)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert message in response.content.decode()
    assert SensorPulse.objects.count() == 0


def test_arrival_times_far_from_server_time_are_refused(client, sensor, key, settings):
    settings.SENSOR_PULSE_MAX_AGE_S = 3600
    future = pulse(when=timezone.now() + dt.timedelta(minutes=5))
    past = pulse(when=timezone.now() - dt.timedelta(hours=2))
    response = send(client, {"pulses": [pulse(), future, past]}, key)
    assert response.status_code == 400
    errors = response.json()["errors"]["pulses"]
    assert set(errors) == {"1", "2"}
    assert "ahead of the server clock" in errors["1"]["arrival_time_utc"][0]
    assert "older than 3600 s" in errors["2"]["arrival_time_utc"][0]
    assert SensorPulse.objects.count() == 0


def test_same_batch_twice_is_acknowledged_not_stored_twice(client, sensor, key):
    payload = batch(20)
    assert send(client, payload, key).json() == {"accepted": 20, "duplicates": 0}
    again = send(client, payload, key)  # fresh signature and nonce, same pulses
    assert again.status_code == 202
    assert again.json() == {"accepted": 0, "duplicates": 20}
    assert SensorPulse.objects.count() == 20


def test_partly_resent_batch_counts_new_and_duplicate_pulses(client, sensor, key):
    first = batch(5)
    send(client, first, key)
    mixed = {"pulses": first["pulses"][:3] + batch(4)["pulses"]}
    assert send(client, mixed, key).json() == {"accepted": 4, "duplicates": 3}
    assert SensorPulse.objects.count() == 9


def test_uuid_repeated_inside_a_batch_is_refused(client, sensor, key):
    item = pulse()
    response = send(client, {"pulses": [pulse(), item, dict(item)]}, key)
    assert response.status_code == 400
    errors = response.json()["errors"]["pulses"]
    assert errors == {"2": {"pulse_uuid": ["Repeated in this batch."]}}
    assert SensorPulse.objects.count() == 0


def test_uuid_of_another_sensor_is_a_conflict_and_stores_nothing(client, agency, sensor, key):
    _, other_key = register(agency=agency, serial="S-0002")
    shared = pulse()
    assert send(client, {"pulses": [shared]}, key).status_code == 202
    response = send(client, {"pulses": [pulse(), shared]}, other_key, serial="S-0002")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert shared["pulse_uuid"] in response.json()["detail"]
    assert SensorPulse.objects.count() == 1
    assert SensorPulse.objects.get().sensor == sensor


def test_batch_over_the_pulse_limit_is_refused_413(client, sensor, key, settings):
    settings.SENSOR_PULSE_BATCH_MAX = 10
    response = send(client, batch(11), key)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert "at most 10 pulses" in response.json()["detail"]
    assert SensorPulse.objects.count() == 0


def test_body_over_the_size_limit_is_refused_413_and_logged(client, sensor, key, settings):
    settings.SENSOR_API_MAX_BODY_BYTES = 4096
    response = send(client, batch(40), key)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert RefusedRequest.objects.get().reason == "too_large"
    assert SensorPulse.objects.count() == 0


def test_empty_batch_and_wrong_shapes_are_400(client, sensor, key):
    for payload in ({"pulses": []}, {"pulses": "x"}, {}, [1, 2]):
        response = send(client, payload, key)
        assert response.status_code == 400, payload
        assert response["Content-Type"] == "application/problem+json"
    assert SensorPulse.objects.count() == 0


def test_malformed_json_is_400(client, sensor, key):
    response = send(client, b'{"pulses": [', key)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_accepted_pulses_are_queued_for_the_pipeline_after_commit(
    client, sensor, key, django_capture_on_commit_callbacks
):
    payload = batch(4)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = send(client, payload, key)
    assert response.status_code == 202
    assert len(callbacks) == 1
    assert SensorPulse.objects.filter(processed_at__isnull=False).count() == 4

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = send(client, payload, key)
    assert again.json()["duplicates"] == 4
    assert callbacks == []  # nothing new, nothing queued


def test_pipeline_task_is_idempotent(sensor, key):
    from apps.sensors.services import pulses_ingest
    from apps.sensors.tasks import process_pulse_batch

    result = pulses_ingest(
        sensor=sensor,
        pulses=[
            {
                "pulse_uuid": uuid.uuid4(),
                "arrival_time": timezone.now(),
                "power_db_spl": 100.0,
                "snr_db": 20.0,
                "features": {},
            }
        ],
    )
    assert process_pulse_batch(sensor_id=sensor.pk, pulse_ids=result.pulse_ids) == 1
    marked = SensorPulse.objects.get().processed_at
    assert process_pulse_batch(sensor_id=sensor.pk, pulse_ids=result.pulse_ids) == 0
    assert SensorPulse.objects.get().processed_at == marked


def test_pulses_get_the_sensor_coverage_area(client, agency, key):
    from apps.geo.models import CoverageArea

    area = CoverageArea.objects.create(
        agency=agency,
        name="Downtown",
        boundary={
            "type": "Polygon",
            "coordinates": [
                [[-87.7, 41.8], [-87.6, 41.8], [-87.6, 41.9], [-87.7, 41.9], [-87.7, 41.8]]
            ],
        },
    )
    sensor, area_key = register(agency=agency, serial="S-AREA", lat=41.85, lon=-87.65)
    assert sensor.coverage_area == area
    send(client, batch(2), area_key, serial="S-AREA")
    assert set(SensorPulse.objects.values_list("coverage_area", flat=True)) == {area.pk}


def test_body_larger_than_django_accepts_is_413_not_a_crash(client, sensor, key, settings):
    """Without a trustworthy Content-Length (ASGI), reading the body itself enforces the cap."""
    settings.SENSOR_API_MAX_BODY_BYTES = 10_000_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    response = send(client, batch(40), key)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert RefusedRequest.objects.get().reason == "too_large"
    assert SensorPulse.objects.count() == 0
