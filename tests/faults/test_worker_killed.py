"""A Celery worker killed (SIGKILL) mid-run loses nothing: late acknowledgement puts the run
back on the queue, and the pipeline is idempotent, so a second run of the same pulses
yields the same one incident.

The run is caught mid-task deterministically: the test holds the coverage area's
pipeline lock, so the worker's run waits inside its transaction until the kill.
"""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from apps.incidents import pipeline
from apps.incidents.locks import ADVISORY_NAMESPACE
from apps.incidents.models import Incident, Shot
from apps.sensors.models import SensorPulse
from shotspotter.celery import app as celery_app
from tests.browser import current_database_url
from tests.faults.support import (
    app_env,
    celery_worker,
    children_of,
    daphne,
    pipeline_weather_env,
    wait_until,
)
from tests.incidents.support import deploy, post_pulses_live

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GUNSHOT = ("single_shot", 2)
RUN_TASK = "incidents.process_coverage_area"


def task_ids(log: str, state: str) -> list[str]:
    """Ids of pipeline runs a worker log says were ``received`` / ``succeeded``."""
    return re.findall(rf"Task {re.escape(RUN_TASK)}\[([0-9a-f-]+)\] {state}", log)


class AreaLockHolder:
    """Holds the area's pipeline lock from outside, so a run waits inside its task."""

    def __init__(self, area_id: int):
        self.area_id = area_id
        self.connection = psycopg2.connect(current_database_url())
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, area_id])

    def runs_waiting(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
            return cursor.fetchone()[0]

    def release(self) -> None:
        if not self.connection.closed:
            self.connection.close()  # the session lock goes with the session


@pytest.fixture
def setting_up(tmp_path, agency, area, private_redis, settings):
    """The deployment, its environment and a daphne serving it; the area's lock held."""
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather = pipeline_weather_env(deployment.scenario)
    settings.PIPELINE_TEMPERATURE_C = float(weather["PIPELINE_TEMPERATURE_C"])
    settings.PIPELINE_WIND_SPEED_MS = float(weather["PIPELINE_WIND_SPEED_MS"])
    settings.PIPELINE_WIND_FROM_DEG = float(weather["PIPELINE_WIND_FROM_DEG"])

    def env(**extra):
        return app_env(
            database_url=current_database_url(),
            redis_url=private_redis.url,
            tmp_path=tmp_path,
            **weather,
            **extra,
        )

    holder = AreaLockHolder(area.pk)
    started = []
    try:
        yield deployment, env, holder, started
    finally:
        holder.release()
        for process in started:
            process.stop()


def sent_uuids(deployment) -> set[str]:
    return {p["pulse_uuid"] for batch in deployment.pulses_by_sensor().values() for p in batch}


def assert_everything_processed_into_one_incident(deployment) -> Incident:
    sent = sent_uuids(deployment)
    wait_until(
        lambda: (
            not SensorPulse.objects.filter(processed_at__isnull=True).exists()
            and Incident.objects.exists()
        ),
        timeout_s=120,
        what="every pulse to be processed",
    )
    stored = {str(u) for u in SensorPulse.objects.values_list("pulse_uuid", flat=True)}
    assert stored == sent and SensorPulse.objects.count() == len(sent)
    incidents = list(Incident.objects.all())
    assert len(incidents) == 1, [(i.number, i.first_shot_at) for i in incidents]
    assert Shot.objects.count() == 1
    return incidents[0]


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # send_task sends
def test_a_pool_process_killed_mid_run_is_requeued_at_once_and_the_rerun_is_idempotent(
    tmp_path, classifier_model, private_redis, setting_up
):
    deployment, env, holder, started = setting_up
    web, url = daphne(env=env(), tmp_path=tmp_path)
    started.append(web)
    worker = celery_worker(env=env(), tmp_path=tmp_path, name="faults-pool")
    started.append(worker)

    post_pulses_live(url, deployment)
    wait_until(holder.runs_waiting, timeout_s=60, what="a pipeline run to start and wait")
    (killed_run,) = task_ids(worker.log(), "received")  # prefetch 1: the only one taken
    (pool_process,) = children_of(worker.pid)
    os.kill(pool_process, signal.SIGKILL)

    wait_until(
        lambda: "WorkerLostError" in worker.log(), timeout_s=30, what="the worker to see the loss"
    )
    assert worker.running()  # the worker replaced its pool process
    holder.release()

    incident = assert_everything_processed_into_one_incident(deployment)
    # Late acknowledgement: the killed run was put back on the queue and ran to the end.
    wait_until(
        lambda: killed_run in task_ids(worker.log(), "succeeded"),
        timeout_s=60,
        what=f"the killed run {killed_run} to be redelivered and succeed",
    )
    assert task_ids(worker.log(), "received").count(killed_run) == 2

    # A duplicate delivery of the run (a kill after the commit, before the ack) changes
    # nothing: its pulses are processed, so the run finds nothing new.
    with celery_app.connection_for_write(private_redis.url) as connection:
        duplicate = celery_app.send_task(
            RUN_TASK, kwargs={"coverage_area_id": incident.coverage_area_id}, connection=connection
        ).id
    wait_until(
        lambda: duplicate in task_ids(worker.log(), "succeeded"),
        timeout_s=60,
        what="the duplicate run to finish",
    )
    # And re-associating the very same pulses again yields the same one incident.
    shots = {p["t_emit"] for p in deployment.truth_shots()}
    first, last = min(shots) + deployment.shift_s, max(shots) + deployment.shift_s
    window = (
        datetime.fromtimestamp(first, UTC) - timedelta(seconds=5),
        datetime.fromtimestamp(last, UTC) + timedelta(seconds=10),
    )
    report = pipeline.process_coverage_area(
        coverage_area_id=incident.coverage_area_id, window=window
    )
    assert not report.incidents_created, report.as_dict()
    again = assert_everything_processed_into_one_incident(deployment)
    assert (again.pk, again.number) == (incident.pk, incident.number)
    assert again.n_sensors == incident.n_sensors and again.rounds == incident.rounds == 1


def test_a_whole_worker_killed_mid_run_gets_its_run_back_after_the_visibility_timeout(
    tmp_path, classifier_model, private_redis, setting_up
):
    deployment, env, holder, started = setting_up
    # Short enough for a test; production derives it from the longest task countdown.
    redelivery = {
        "CELERY_VISIBILITY_TIMEOUT_S": "5",
        "ALERTS_RETRY_MAX_S": "4",
        "ALERTS_RETRY_BASE_S": "1",
    }
    web, url = daphne(env=env(**redelivery), tmp_path=tmp_path)
    started.append(web)
    first = celery_worker(env=env(**redelivery), tmp_path=tmp_path, name="faults-first")
    started.append(first)

    post_pulses_live(url, deployment)
    wait_until(holder.runs_waiting, timeout_s=60, what="a pipeline run to start and wait")
    (killed_run,) = task_ids(first.log(), "received")
    taken_at = time.monotonic()
    first.kill_group()  # main process and pool process: nothing can reject the message

    # Not lost: the message waits in the broker's unacknowledged set.
    parked = private_redis.client().hvals("unacked")
    assert any(killed_run.encode() in message for message in parked), parked
    holder.release()
    assert not SensorPulse.objects.filter(processed_at__isnull=False).exists()

    time.sleep(max(0.0, 5.5 - (time.monotonic() - taken_at)))
    second = celery_worker(env=env(**redelivery), tmp_path=tmp_path, name="faults-second")
    started.append(second)
    wait_until(
        lambda: killed_run in task_ids(second.log(), "succeeded"),
        timeout_s=60,
        what=f"the killed run {killed_run} to be redelivered to the new worker",
    )
    assert_everything_processed_into_one_incident(deployment)
