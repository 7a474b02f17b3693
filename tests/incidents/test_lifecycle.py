"""Incident lifecycle pieces: classifier failures, events, closing, sweeping, numbering."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.db import transaction
from django.utils import timezone

from apps.incidents import classification, events, pipeline, services
from apps.incidents.models import Incident, IncidentStatus
from apps.realtime.models import RealtimeEvent
from apps.sensors.models import SensorPulse
from tests.factories import AgencyFactory
from tests.incidents.support import deploy, ingest

GUNSHOT = ("single_shot", 2)


@pytest.mark.django_db
def test_a_missing_classifier_fails_the_run_loudly_and_writes_nothing(
    agency, area, weather_of, settings, tmp_path
):
    settings.INCIDENT_CLASSIFIER_PATH = str(tmp_path / "no-such-model.json")
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather_of(deployment.scenario)
    ingest(deployment)

    with pytest.raises(classification.ClassifierUnavailable, match="no-such-model"):
        pipeline.process_coverage_area(coverage_area_id=area.pk)

    assert not Incident.objects.exists()
    # Nothing was marked processed: the next run (once a model is installed) redoes it.
    assert not SensorPulse.objects.filter(processed_at__isnull=False).exists()


@pytest.mark.django_db
def test_a_broken_classifier_artifact_is_unavailable_not_guessed(settings, tmp_path):
    broken = tmp_path / "incident_classifier_v999.json"
    broken.write_text('{"format": "something else"}')
    with pytest.raises(classification.ClassifierUnavailable):
        classification.load_model(broken)


@pytest.mark.django_db(transaction=True)
def test_events_are_sent_inside_the_transaction_and_vanish_with_a_rollback():
    received = []

    def receiver(sender, *, incident_id, kind, **kwargs):
        received.append((incident_id, kind))
        # What a receiver stores goes with the pipeline's transaction.
        RealtimeEvent.objects.create(audience="review", kind=kind, incident_id=incident_id)

    events.pipeline_incident_changed.connect(receiver, dispatch_uid="test-receiver")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            events.incident_changed(41, "entered_review")
            raise RuntimeError("rolled back")
        with transaction.atomic():
            events.incident_changed(42, "entered_review")
            events.incident_changed(42, "refined")
    finally:
        events.pipeline_incident_changed.disconnect(dispatch_uid="test-receiver")

    assert received == [(41, "entered_review"), (42, "entered_review"), (42, "refined")]
    stored = list(RealtimeEvent.objects.values_list("incident_id", "kind").order_by("id"))
    assert stored == [(42, "entered_review"), (42, "refined")]
    with pytest.raises(ValueError):
        events.incident_changed(42, "published-by-magic")


@pytest.mark.django_db
def test_incidents_close_when_their_window_passes(
    agency, area, weather_of, settings, classifier_model
):
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather_of(deployment.scenario)
    ingest(deployment)
    pipeline.process_coverage_area(coverage_area_id=area.pk)
    incident = Incident.objects.get()
    assert incident.is_open
    now = incident.last_shot_at + dt.timedelta(seconds=settings.INCIDENT_CLOSE_AFTER_S - 1)
    assert services.incidents_close_passed(now=now) == 0
    later = now + dt.timedelta(seconds=2)
    assert services.incidents_close_passed(now=later) == 1
    incident.refresh_from_db()
    assert incident.closed_at == later and not incident.is_open
    assert services.incidents_close_passed(now=later + dt.timedelta(hours=1)) == 0


@pytest.mark.django_db
def test_sweep_processes_pulses_whose_run_was_lost(agency, area, weather_of, classifier_model):
    """A run lost with a broker outage: the pulses wait, unprocessed; the sweep runs them."""
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather_of(deployment.scenario)
    ingest(deployment)  # inside the test transaction the on-commit hook never fires
    assert SensorPulse.objects.filter(processed_at__isnull=True).count() > 0
    assert services.sweep_unprocessed(now=timezone.now()) == 0  # too fresh: a run is due
    assert services.sweep_unprocessed(now=timezone.now() + dt.timedelta(minutes=1)) == 1
    assert Incident.objects.count() == 1
    assert not SensorPulse.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_numbers_are_per_agency():
    first, second = AgencyFactory(system_id="51"), AgencyFactory(system_id="52")
    assert [services.incident_number_next(agency=first) for _ in range(3)] == [1, 2, 3]
    assert services.incident_number_next(agency=second) == 1


@pytest.mark.django_db
def test_incident_reference_and_link(agency, area, weather_of, classifier_model):
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather_of(deployment.scenario)
    ingest(deployment)
    pipeline.process_coverage_area(coverage_area_id=area.pk)
    incident = Incident.objects.get()
    assert incident.reference == f"{agency.system_id}-1"
    assert incident.get_absolute_url() == f"/incident/{agency.system_id}/1"
    assert incident.status in (IncidentStatus.FILTERED, IncidentStatus.PENDING_REVIEW)


@pytest.mark.django_db(transaction=True)
def test_refinements_log_at_debug_and_the_other_changes_at_info(caplog):
    """Every sensor post re-runs the pipeline: 'refined' was the loudest console line."""
    caplog.set_level(logging.DEBUG, logger="apps.incidents.events")
    with transaction.atomic():
        for kind in events.KINDS:
            events.incident_changed(42, kind)
    levels = {
        record.getMessage(): record.levelno
        for record in caplog.records
        if record.name == "apps.incidents.events"
    }
    assert levels == {
        "incident 42 filtered": logging.INFO,
        "incident 42 entered_review": logging.INFO,
        "incident 42 refined": logging.DEBUG,
        "incident 42 closed": logging.INFO,
    }
