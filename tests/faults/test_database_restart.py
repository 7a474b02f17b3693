"""A database restart during ingest loses no acknowledged pulse.

A private PostgreSQL cluster (a copy of the test database) serves daphne and a Celery
worker. It crashes (immediate stop: recovery from the WAL) while sensors post small
signed batches, and is then stopped cleanly while sensor agents send theirs. Every 202
must be stored; every request the outage caught gets a 503 problem (never a 500) that
the sender resends, and the agents' store-and-forward outboxes keep their pulses until
the database is back. Pulses in, incidents out: all of them stored, one incident.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from apps.core.problems import PROBLEM_CONTENT_TYPE
from apps.sensor_agent.agent import SensorAgent
from tests.browser import current_database_url
from tests.faults.support import (
    PrivateCluster,
    app_env,
    celery_worker,
    copy_database,
    daphne,
    pipeline_weather_env,
    wait_until,
)
from tests.incidents.support import deploy
from tests.sensor_agent.support import agent_config
from tests.sensors.support import PULSES, encode, signed_headers

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GUNSHOT = ("single_shot", 2)
AGENT_SENSORS = 3  # sensors whose pulses go through a real agent's outbox


class Sender:
    """Posts one-pulse signed batches like a sensor would, resending what is not a 202."""

    def __init__(self, url: str, batches: list[tuple[object, object, dict]]):
        self.url = url
        self.waiting = list(batches)  # (sensor, key, pulse)
        self.acknowledged: set[str] = set()
        self.refusals: list[requests.Response] = []
        self.statuses: list[int] = []
        self.error: BaseException | None = None

    def post(self, sensor, key, pulse) -> requests.Response:
        body = encode({"pulses": [pulse]})
        headers = signed_headers(
            path=PULSES, body=body, key=key, serial=sensor.serial_number, base=self.url
        )
        return requests.post(self.url + PULSES, data=body, headers=headers, timeout=30)

    def run(self, *, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        try:
            while self.waiting and time.monotonic() < deadline:
                sensor, key, pulse = self.waiting.pop(0)
                reply = self.post(sensor, key, pulse)
                self.statuses.append(reply.status_code)
                if reply.status_code == 202:
                    self.acknowledged.add(pulse["pulse_uuid"])
                else:  # not acknowledged: keep it and send it again later
                    self.refusals.append(reply)
                    self.waiting.append((sensor, key, pulse))
                time.sleep(0.05 if reply.status_code == 202 else 0.2)
        except BaseException as error:  # surfaced by the test thread
            self.error = error


def column(cluster: PrivateCluster, sql: str) -> list:
    connection = cluster.connect("shotspotter")
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


def stored_uuids(cluster: PrivateCluster) -> list[str]:
    return column(cluster, "SELECT pulse_uuid::text FROM sensors_sensorpulse")


def count(cluster: PrivateCluster, sql: str) -> int:
    return column(cluster, sql)[0]


def test_a_database_restart_during_ingest_loses_no_acknowledged_pulse(
    tmp_path, agency, area, classifier_model, private_redis, cluster
):
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    by_sensor = deployment.pulses_by_sensor()
    sent = {p["pulse_uuid"] for pulses in by_sensor.values() for p in pulses}
    agent_ids = sorted(by_sensor)[:AGENT_SENSORS]
    copy_database(source_url=current_database_url(), cluster=cluster, name="shotspotter")
    env = app_env(
        database_url=cluster.url("shotspotter"),
        redis_url=private_redis.url,
        tmp_path=tmp_path,
        **pipeline_weather_env(deployment.scenario),
    )
    web, url = daphne(env=env, tmp_path=tmp_path)
    worker = celery_worker(env=env, tmp_path=tmp_path, name="faults-db", beat=True)
    try:
        # 1. A crash in the middle of the ingest of one-pulse batches.
        batches = [
            (*deployment.sensors[sensor_id], pulse)
            for sensor_id, pulses in sorted(by_sensor.items())
            if sensor_id not in agent_ids
            for pulse in pulses
        ]
        sender = Sender(url, batches)
        thread = threading.Thread(target=sender.run, kwargs={"deadline_s": 120}, daemon=True)
        thread.start()
        wait_until(lambda: len(sender.acknowledged) >= 15, timeout_s=30, what="15 batches in")
        cluster.stop(mode="immediate")
        time.sleep(2)
        cluster.start()
        thread.join(timeout=150)
        assert not thread.is_alive() and sender.error is None, sender.error
        assert not sender.waiting, f"{len(sender.waiting)} batches never acknowledged"

        assert sender.refusals, "the restart caught no request: the scenario tested nothing"
        assert set(sender.statuses) == {202, 503}, sorted(set(sender.statuses))
        for reply in sender.refusals:
            assert reply.headers["Content-Type"] == PROBLEM_CONTENT_TYPE
            assert int(reply.headers["Retry-After"]) > 0
            problem = reply.json()
            assert (problem["status"], problem["title"]) == (503, "Service Unavailable")
            assert "Traceback" not in reply.text
        stored = stored_uuids(cluster)
        assert sender.acknowledged <= set(stored)  # every 202 survived the crash

        # 2. A clean stop while sensor agents send: the outbox keeps every pulse.
        agents = []
        for sensor_id in agent_ids:
            sensor, key = deployment.sensors[sensor_id]
            config = agent_config(
                tmp_path / f"agent-{sensor_id}", server_url=url, serial=sensor.serial_number
            )
            agent = SensorAgent(config, private_key=key)
            agent.queue_pulses(by_sensor[sensor_id])
            agents.append(agent)
        cluster.stop(mode="fast")
        for agent in agents:
            result = agent.send_pending(force=True)
            assert result.failed and result.error.startswith("HTTP 503"), result.error
            assert len(agent.outbox) > 0 and not agent.outbox.rejected()
        cluster.start()
        for agent in agents:
            result = agent.send_pending(force=True)
            assert not result.failed, result.error
            assert len(agent.outbox) == 0 and not agent.outbox.rejected()
            agent.outbox.close()

        # Pulses in: every one stored once. Incidents out: the one gunshot.
        stored = stored_uuids(cluster)
        assert len(stored) == len(set(stored)) and set(stored) == sent
        wait_until(
            lambda: (
                count(
                    cluster, "SELECT count(*) FROM sensors_sensorpulse WHERE processed_at IS NULL"
                )
                == 0
            ),
            timeout_s=120,
            what="every pulse to be processed after the restarts",
        )
        assert count(cluster, "SELECT count(*) FROM incidents_incident") == 1
        # The gunshot's direct arrivals are in the incident's shots: none was lost. (How
        # many shots late, reordered pulses make is the pipeline's accuracy, not a fault.)
        direct = set(deployment.truth_shots("gunfire")[0]["direct_pulse_uuids"])
        located = set(
            column(
                cluster,
                "SELECT p.pulse_uuid::text FROM incidents_shotpulse sp"
                " JOIN sensors_sensorpulse p ON p.id = sp.pulse_id",
            )
        )
        assert len(direct & located) >= 0.9 * len(direct), (len(direct & located), len(direct))
        assert "Internal Server Error" not in web.log()
    finally:
        worker.stop()
        web.stop()
