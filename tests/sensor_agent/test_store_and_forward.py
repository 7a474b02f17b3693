"""Store-and-forward against the real server (live_server), outages through a real relay."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlsplit

import pytest

from apps.sensor_agent.agent import SensorAgent
from apps.sensor_agent.client import utc_iso
from apps.sensor_agent.outbox import Outbox
from apps.sensors.models import SensorPulse
from tests.factories import AgencyFactory
from tests.sensor_agent.support import Relay, agent_config, free_port
from tests.sensors.support import register

pytestmark = pytest.mark.django_db(transaction=True)


def pulses(n: int, *, age_s: float = 2.0) -> list[dict]:
    when = dt.datetime.now(dt.UTC).timestamp() - age_s
    return [
        {
            "pulse_uuid": str(uuid.uuid4()),
            "arrival_time_utc": utc_iso(when + 0.01 * i),
            "power_db_spl": 110.0 + i % 5,
            "signal_to_noise_db": 20.0,
            "features": {"rise_time_ms": 0.7, "duration_ms": 11.0},
        }
        for i in range(n)
    ]


@pytest.fixture
def sensor_key():
    _, key = register(agency=AgencyFactory(system_id="312"), serial="S-0001")
    return key


@pytest.fixture
def relay(live_server):
    target = urlsplit(live_server.url)
    relay = Relay(target.hostname, target.port)
    yield relay
    relay.stop()


def make_agent(tmp_path, url, key, **extra):
    config = agent_config(tmp_path / "agent", server_url=url, batch_max_pulses=50, **extra)
    return SensorAgent(config, private_key=key)


def stored_uuids() -> list[str]:
    return sorted(str(u) for u in SensorPulse.objects.values_list("pulse_uuid", flat=True))


def test_outbox_keeps_the_batch_while_the_server_is_down_then_delivers_it_once(
    tmp_path, relay, sensor_key
):
    agent = make_agent(tmp_path, relay.url, sensor_key)  # the relay port is closed: down
    try:
        batch = pulses(120)
        assert agent.queue_pulses(batch) == 120
        result = agent.send_pending(force=True)
        assert result.failed and "ConnectionError" in result.error
        assert len(agent.outbox) == 120
        assert SensorPulse.objects.count() == 0
        # Backing off: a normal (not forced) attempt right away does not even try.
        assert agent.send_pending().error == "backing off"

        relay.start()  # the server is back
        result = agent.send_pending(force=True)
        assert not result.failed
        assert (result.sent, result.accepted, result.duplicates) == (120, 120, 0)
        assert len(agent.outbox) == 0
        assert stored_uuids() == sorted(p["pulse_uuid"] for p in batch)

        # Nothing is left to resend: another pass sends nothing, the server has each once.
        assert agent.send_pending(force=True).sent == 0
        assert SensorPulse.objects.count() == 120
    finally:
        agent.close()


def test_outbox_survives_an_agent_restart(tmp_path, live_server, sensor_key):
    down = f"http://127.0.0.1:{free_port()}"
    first = make_agent(tmp_path, down, sensor_key)
    batch = pulses(30)
    first.queue_pulses(batch)
    assert first.send_pending(force=True).failed
    first.close()  # the sensor reboots with the batch only on disk

    second = make_agent(tmp_path, live_server.url, sensor_key)
    try:
        assert len(second.outbox) == 30
        result = second.send_pending(force=True)
        assert (result.accepted, result.duplicates) == (30, 0)
        assert stored_uuids() == sorted(p["pulse_uuid"] for p in batch)
    finally:
        second.close()


def test_resend_after_a_lost_acknowledgement_is_idempotent(tmp_path, relay, sensor_key):
    relay.start()
    relay.drop_replies = True  # the server stores the batch, the 202 never arrives
    agent = make_agent(tmp_path, relay.url, sensor_key)
    try:
        batch = pulses(40)
        agent.queue_pulses(batch)
        result = agent.send_pending(force=True)
        assert result.failed
        assert len(agent.outbox) == 40  # not acknowledged: still queued
        assert SensorPulse.objects.count() == 40  # ... although the server has them

        relay.drop_replies = False
        result = agent.send_pending(force=True)
        assert (result.sent, result.accepted, result.duplicates) == (40, 0, 40)
        assert len(agent.outbox) == 0
        assert stored_uuids() == sorted(p["pulse_uuid"] for p in batch)
    finally:
        agent.close()


def test_queueing_the_same_pulse_twice_sends_it_once(tmp_path, live_server, sensor_key):
    agent = make_agent(tmp_path, live_server.url, sensor_key)
    try:
        batch = pulses(5)
        assert agent.queue_pulses(batch) == 5
        assert agent.queue_pulses(batch) == 0
        assert agent.send_pending(force=True).accepted == 5
        # Sent again later (e.g. a replayed spool): acknowledged as duplicates.
        agent.queue_pulses(batch)
        result = agent.send_pending(force=True)
        assert (result.accepted, result.duplicates) == (0, 5)
        assert SensorPulse.objects.count() == 5
    finally:
        agent.close()


def test_a_refused_pulse_is_set_aside_and_the_rest_delivered(tmp_path, live_server, sensor_key):
    agent = make_agent(tmp_path, live_server.url, sensor_key)
    try:
        good = pulses(9)
        bad = pulses(1, age_s=-3600)[0]  # an hour in the future: the server refuses it
        agent.queue_pulses([*good[:4], bad, *good[4:]])
        result = agent.send_pending(force=True)
        assert not result.failed
        assert (result.accepted, result.rejected) == (9, 1)
        assert len(agent.outbox) == 0
        assert stored_uuids() == sorted(p["pulse_uuid"] for p in good)
        [(rejected_uuid, reason)] = agent.outbox.rejected()
        assert rejected_uuid == bad["pulse_uuid"] and "400" in reason
    finally:
        agent.close()


def test_a_server_error_keeps_the_batch(tmp_path, live_server, sensor_key):
    # An unknown sensor (401) is a server-side condition that may be fixed: keep, retry.
    agent = SensorAgent(
        agent_config(tmp_path / "agent", server_url=live_server.url, serial="S-UNKNOWN"),
        private_key=sensor_key,
    )
    try:
        agent.queue_pulses(pulses(3))
        result = agent.send_pending(force=True)
        assert result.failed and "401" in result.error
        assert len(agent.outbox) == 3
    finally:
        agent.close()


def test_pulses_older_than_the_server_accepts_are_dropped(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    try:
        old, new = pulses(1, age_s=73 * 3600), pulses(1)
        outbox.add(old + new, arrival_epochs=[0.0, 2e9])
        assert outbox.expire(older_than=1e9) == 1
        assert [item.pulse_uuid for item in outbox.peek(10)] == [new[0]["pulse_uuid"]]
    finally:
        outbox.close()
