"""Concurrent sensors against PostgreSQL over real HTTP: every pulse stored exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from apps.sensors.models import RefusedRequest, SensorPulse, UsedNonce
from tests.factories import AgencyFactory
from tests.sensors.support import PULSES, batch, encode, register, signed_headers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _post(live_server, body: bytes, headers: dict, barrier: threading.Barrier):
    try:
        barrier.wait(timeout=10)
        return requests.post(live_server.url + PULSES, data=body, headers=headers, timeout=30)
    finally:
        connection.close()


def _sign(live_server, body, key, serial="S-0001"):
    return signed_headers(path=PULSES, body=body, key=key, serial=serial, base=live_server.url)


def test_concurrent_duplicate_posts_store_each_pulse_once(live_server):
    _, key = register(agency=AgencyFactory(system_id="312"), serial="S-0001")
    rounds, threads, size = 5, 4, 200
    for _ in range(rounds):
        body = encode(batch(size))
        barrier = threading.Barrier(threads)
        with ThreadPoolExecutor(threads) as pool:
            futures = [
                pool.submit(_post, live_server, body, _sign(live_server, body, key), barrier)
                for _ in range(threads)
            ]
            replies = [f.result() for f in futures]
        assert [r.status_code for r in replies] == [202] * threads, [r.text for r in replies]
        assert sum(r.json()["accepted"] for r in replies) == size
        assert sum(r.json()["duplicates"] for r in replies) == size * (threads - 1)
    assert SensorPulse.objects.count() == rounds * size
    assert SensorPulse.objects.values("pulse_uuid").distinct().count() == rounds * size
    # The pipeline task ran after each real commit, for the stored pulses.
    assert not SensorPulse.objects.filter(processed_at__isnull=True).exists()


def test_concurrent_sensors_with_overlapping_batches(live_server):
    """Many sensors re-sending partly overlapping batches at once: no loss, no duplicate."""
    agency = AgencyFactory(system_id="312")
    sensors = [register(agency=agency, serial=f"S-{i:04d}") for i in range(8)]
    jobs = []
    expected = 0
    for sensor, key in sensors:
        pulses = batch(60)["pulses"]
        expected += len(pulses)
        for part in (pulses[:40], pulses[20:], pulses):  # overlapping re-sends
            body = encode({"pulses": part})
            jobs.append((body, _sign(live_server, body, key, sensor.serial_number)))
    barrier = threading.Barrier(len(jobs))
    with ThreadPoolExecutor(len(jobs)) as pool:
        replies = list(pool.map(lambda job: _post(live_server, *job, barrier), jobs))
    assert all(r.status_code == 202 for r in replies), [r.text for r in replies]
    assert sum(r.json()["accepted"] for r in replies) == expected
    assert SensorPulse.objects.count() == expected


def test_concurrent_replays_of_one_signed_request_pass_once(live_server):
    _, key = register(agency=AgencyFactory(system_id="312"), serial="S-0001")
    body = encode(batch(10))
    headers = _sign(live_server, body, key)
    barrier = threading.Barrier(6)
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: _post(live_server, body, headers, barrier), range(6)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [202, 401, 401, 401, 401, 401]
    assert RefusedRequest.objects.filter(reason="replayed_nonce").count() == 5
    assert UsedNonce.objects.count() == 1
    assert SensorPulse.objects.count() == 10
