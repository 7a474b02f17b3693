"""Concurrent pipeline workers against PostgreSQL (real threads, real connections)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from apps.incidents import pipeline, services
from apps.incidents.models import Incident, Shot, ShotPulse
from apps.sensors.models import SensorPulse
from tests.factories import AgencyFactory
from tests.incidents.support import deploy, ingest, post_pulses_live, square_area

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GUNSHOT = ("single_shot", 2)


def _in_thread(barrier: threading.Barrier, work):
    try:
        barrier.wait(timeout=30)
        return work()
    finally:
        connection.close()


def _unprocessed_gunshot(agency, area, weather_of, django_capture_on_commit_callbacks=None):
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather_of(deployment.scenario)
    ingest(deployment)
    # The ingest hook already ran the pipeline after each commit; start over so that the
    # workers below meet the window untouched.
    Incident.objects.all().delete()
    SensorPulse.objects.update(processed_at=None)
    return deployment


def test_two_workers_on_the_same_window_make_one_incident(
    agency, area, weather_of, classifier_model
):
    _unprocessed_gunshot(agency, area, weather_of)
    assert not Incident.objects.exists()
    window = (timezone.now() - dt.timedelta(minutes=2), timezone.now())
    workers = 4
    barrier = threading.Barrier(workers)
    with ThreadPoolExecutor(workers) as pool:
        reports = list(
            pool.map(
                lambda _: _in_thread(
                    barrier,
                    lambda: pipeline.process_coverage_area(coverage_area_id=area.pk, window=window),
                ),
                range(workers),
            )
        )
    assert Incident.objects.count() == 1
    assert Shot.objects.count() == 1
    assert sum(len(r.incidents_created) for r in reports) == 1
    # The others found the same shot and changed nothing.
    assert sum(len(r.incidents_refined) for r in reports) == 0
    assert Incident.objects.get().revision == 1
    pulses = list(ShotPulse.objects.values_list("pulse_id", flat=True))
    assert len(pulses) == len(set(pulses))


def test_two_workers_racing_for_new_pulses_make_one_incident(
    agency, area, weather_of, classifier_model
):
    _unprocessed_gunshot(agency, area, weather_of)
    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        reports = list(
            pool.map(
                lambda _: _in_thread(
                    barrier, lambda: pipeline.process_coverage_area(coverage_area_id=area.pk)
                ),
                range(2),
            )
        )
    assert Incident.objects.count() == 1
    # One of them processed the pulses; the other, once it had the lock, found none left.
    assert sorted(r.pulses_processed for r in reports)[0] == 0
    assert not SensorPulse.objects.filter(processed_at__isnull=True).exists()


def test_sensors_posting_concurrently_over_http_make_one_incident(
    live_server, weather_of, classifier_model
):
    agency = AgencyFactory(system_id="418")
    area = square_area(agency=agency)
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather_of(deployment.scenario)
    sensor_ids = sorted(deployment.pulses_by_sensor())
    groups = [set(sensor_ids[i::8]) for i in range(8)]
    barrier = threading.Barrier(len(groups))
    with ThreadPoolExecutor(len(groups)) as pool:
        list(
            pool.map(
                lambda group: _in_thread(
                    barrier,
                    lambda: post_pulses_live(live_server.url, deployment, sensor_ids=group),
                ),
                groups,
            )
        )
    # Runs that were skipped while another was queued are caught by the sweep.
    services.sweep_unprocessed(now=timezone.now() + dt.timedelta(minutes=1))
    assert Incident.objects.count() == 1
    assert Incident.objects.get().n_sensors >= 30
    assert not SensorPulse.objects.filter(processed_at__isnull=True).exists()


def test_incident_numbers_are_unique_and_consecutive_under_concurrency():
    agency = AgencyFactory(system_id="419")
    workers, each = 6, 10
    barrier = threading.Barrier(workers)

    def take():
        from django.db import transaction

        numbers = []
        for _ in range(each):
            with transaction.atomic():
                numbers.append(services.incident_number_next(agency=agency))
        return numbers

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda _: _in_thread(barrier, take), range(workers)))
    numbers = sorted(n for chunk in results for n in chunk)
    assert numbers == list(range(1, workers * each + 1))
