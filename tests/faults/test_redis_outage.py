"""Redis stopped: sensor batches are still accepted (202) and stored, processed once it is back."""

from __future__ import annotations

import pytest

from apps.incidents.models import Incident, Shot
from apps.sensors.models import SensorPulse
from tests.browser import current_database_url
from tests.faults.support import (
    app_env,
    celery_worker,
    daphne,
    pipeline_weather_env,
    wait_until,
)
from tests.incidents.support import deploy, post_pulses_live

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GUNSHOT = ("single_shot", 2)  # one handgun round heard by 40+ sensors: one incident


def test_batches_sent_while_redis_is_down_are_stored_and_processed_once_it_is_back(
    tmp_path, agency, area, classifier_model, private_redis
):
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    env = app_env(
        database_url=current_database_url(),
        redis_url=private_redis.url,
        tmp_path=tmp_path,
        **pipeline_weather_env(deployment.scenario),
    )
    web, url = daphne(env=env, tmp_path=tmp_path)
    worker = None
    try:
        private_redis.stop()  # broker, cache and channel layer gone

        replies = post_pulses_live(url, deployment)  # asserts 202 for every batch

        sent = {p["pulse_uuid"] for batch in deployment.pulses_by_sensor().values() for p in batch}
        assert sum(r.json()["accepted"] for r in replies) == len(sent)
        stored = {str(u) for u in SensorPulse.objects.values_list("pulse_uuid", flat=True)}
        assert stored == sent
        # Nothing could be queued: every pulse waits, no incident yet.
        assert SensorPulse.objects.filter(processed_at__isnull=True).count() == len(sent)
        assert not Incident.objects.exists()
        assert "pipeline run for coverage area" in web.log()  # the failed publish, logged

        private_redis.start()  # back, empty: the queued runs never reached it
        worker = celery_worker(env=env, tmp_path=tmp_path, name="faults-redis", beat=True)

        # Beat's sweep re-queues the area once its pulses have waited long enough.
        wait_until(
            lambda: not SensorPulse.objects.filter(processed_at__isnull=True).exists(),
            timeout_s=120,
            what="the sweep to get every waiting pulse processed",
        )
        assert "incidents.sweep" in worker.log()
        assert SensorPulse.objects.count() == len(sent)  # nothing lost, nothing doubled
        incidents = list(Incident.objects.all())
        assert len(incidents) == 1, [(i.number, i.first_shot_at) for i in incidents]
        assert incidents[0].rounds == len(deployment.truth_shots("gunfire")) == 1
        assert Shot.objects.count() == 1
        assert incidents[0].n_sensors >= 5
    finally:
        if worker is not None:
            worker.stop()
        web.stop()
