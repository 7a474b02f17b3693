"""Retention with time travel: every rule, with rows made old or with "now" moved ahead."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.evidence.services import clip_playback_authorize
from apps.incidents.models import (
    AudioClip,
    AudioRequest,
    AudioRequestStatus,
    Incident,
    IncidentStatus,
    Shot,
)
from apps.investigations.models import InvestigationClip, InvestigationRequest
from apps.investigations.selectors import investigation_timeline
from apps.privacy import services as retention
from apps.privacy.checks import sensor_audio_setting_errors
from apps.privacy.models import RetentionRun
from apps.privacy.tasks import apply_retention
from apps.review import services as review
from apps.review.models import HistoryKind, IncidentHistory, ReviewDecision
from apps.sensors.models import SensorPulse
from tests.conftest import REPO_ROOT
from tests.factories import AgencyFactory, UserFactory, login_verified
from tests.incidents.support import square_area
from tests.investigations.support import PLACE, verified_reviewer
from tests.portal.support import reviewer
from tests.privacy.support import (
    clip_for,
    days_ago,
    decide,
    incident_with_shot,
    investigation_with_clips,
    media_file,
    orphan_pulse,
    pulse_ids_of,
)
from tests.review.support import area_with_beat, make_sensors

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _periods(settings):
    settings.RETENTION_PULSES_DAYS = 30
    settings.RETENTION_FILTERED_INCIDENTS_DAYS = 60
    settings.RETENTION_DISMISSED_AUDIO_DAYS = 14
    settings.RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS = 10


@pytest.fixture
def site():
    agency = AgencyFactory(system_id="501")
    area = area_with_beat(agency=agency)
    return agency, area, make_sensors(area=area, n=4)


@pytest.fixture
def inv_agency(site):
    """The site's agency with a coverage area where investigation requests are filed."""
    agency = site[0]
    square_area(agency=agency, name="Investigations", centre=PLACE, half_width_m=4000.0)
    return agency


# --- Summary pulses ---------------------------------------------------------------------------


def test_pulses_in_no_shot_are_deleted_after_the_period_and_not_before(site):
    _, _, sensors = site
    old = orphan_pulse(sensor=sensors[0], at=days_ago(30.01))
    young = orphan_pulse(sensor=sensors[1], at=days_ago(29.99))

    report = retention.retention_apply()

    assert not SensorPulse.objects.filter(pk=old.pk).exists()
    assert SensorPulse.objects.filter(pk=young.pk).exists()
    assert report.counts["pulses"] == 1
    assert report.per_agency == {"501": {**dict.fromkeys(retention.COUNT_KEYS, 0), "pulses": 1}}


def test_moving_now_ahead_deletes_a_pulse_once_it_is_old_enough(site):
    _, _, sensors = site
    pulse = orphan_pulse(sensor=sensors[0], at=timezone.now())

    retention.retention_apply(now=timezone.now() + dt.timedelta(days=29))
    assert SensorPulse.objects.filter(pk=pulse.pk).exists()
    retention.retention_apply(now=timezone.now() + dt.timedelta(days=31))
    assert not SensorPulse.objects.filter(pk=pulse.pk).exists()


def test_pulses_of_kept_incidents_survive_however_old(site):
    _, area, sensors = site
    long_ago = days_ago(400)
    published = decide(
        incident_with_shot(area=area, sensors=sensors, status="pending_review", at=long_ago),
        gunfire=True,
    )
    dismissed = decide(
        incident_with_shot(area=area, sensors=sensors, status="pending_review", at=long_ago),
        gunfire=False,
    )
    pending = incident_with_shot(area=area, sensors=sensors, status="pending_review", at=long_ago)
    kept = pulse_ids_of(published) | pulse_ids_of(dismissed) | pulse_ids_of(pending)
    assert len(kept) == 12

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=3650))

    assert report.counts["pulses"] == 0
    assert set(SensorPulse.objects.values_list("pk", flat=True)) == kept
    assert Shot.objects.filter(incident__in=[published, dismissed, pending]).count() == 3


# --- Filtered incidents ---------------------------------------------------------------------


def test_filtered_incidents_are_deleted_with_their_shots_and_pulses_after_the_period(site):
    _, area, sensors = site
    old = incident_with_shot(area=area, sensors=sensors, status="filtered", at=days_ago(61))
    young = incident_with_shot(area=area, sensors=sensors, status="filtered", at=days_ago(59))
    old_pulses, young_pulses = pulse_ids_of(old), pulse_ids_of(young)

    report = retention.retention_apply()

    assert not Incident.objects.filter(pk=old.pk).exists()
    assert not Shot.objects.filter(incident_id=old.pk).exists()
    assert not SensorPulse.objects.filter(pk__in=old_pulses).exists()
    assert Incident.objects.filter(pk=young.pk).exists()
    assert SensorPulse.objects.filter(pk__in=young_pulses).count() == 4
    assert report.counts["filtered_incidents"] == 1
    assert report.counts["filtered_incident_shots"] == 1
    assert report.counts["filtered_incident_pulses"] == 4
    # Those pulses were older than the pulse period too, but counted with their incident.
    assert report.counts["pulses"] == 0


def test_filtered_incident_deleted_once_now_moves_past_the_period(site):
    _, area, sensors = site
    incident = incident_with_shot(area=area, sensors=sensors, status="filtered")

    retention.retention_apply(now=timezone.now() + dt.timedelta(days=59))
    assert Incident.objects.filter(pk=incident.pk).exists()
    retention.retention_apply(now=timezone.now() + dt.timedelta(days=61))
    assert not Incident.objects.filter(pk=incident.pk).exists()
    assert SensorPulse.objects.count() == 0


def test_a_filtered_incident_a_human_wrote_history_on_is_kept(site):
    _, area, sensors = site
    incident = incident_with_shot(area=area, sensors=sensors, status="filtered", at=days_ago(90))
    IncidentHistory.objects.create(incident=incident, kind=HistoryKind.COMMENT, reason="keep")

    report = retention.retention_apply()

    assert Incident.objects.filter(pk=incident.pk).exists()
    assert len(pulse_ids_of(incident)) == 4
    assert report.counts["filtered_incidents"] == 0


def test_incidents_of_other_statuses_are_never_deleted(site):
    _, area, sensors = site
    long_ago = days_ago(1000)
    published = decide(
        incident_with_shot(area=area, sensors=sensors, status="pending_review", at=long_ago),
        gunfire=True,
    )
    dismissed = decide(
        incident_with_shot(area=area, sensors=sensors, status="pending_review", at=long_ago),
        gunfire=False,
    )

    retention.retention_apply(now=timezone.now() + dt.timedelta(days=3650))

    assert set(Incident.objects.values_list("pk", flat=True)) == {published.pk, dismissed.pk}


# --- Audio ----------------------------------------------------------------------------------


def test_audio_of_a_not_gunfire_incident_is_deleted_after_the_period_summary_kept(site):
    _, area, sensors = site
    incident = incident_with_shot(area=area, sensors=sensors, status="pending_review")
    clip = clip_for(incident)
    path = media_file(clip)
    assert path.is_file()
    incident = decide(incident, gunfire=False)
    assert incident.status == IncidentStatus.DISMISSED

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=13))
    assert report.counts["dismissed_audio_clips"] == 0
    assert path.is_file()

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=15))

    assert report.counts["dismissed_audio_clips"] == 1
    assert report.counts["dismissed_audio_files"] == 1
    assert not AudioClip.objects.filter(pk=clip.pk).exists()
    assert not path.exists()
    assert not any((django_settings.MEDIA_ROOT / "evidence").iterdir())
    # The incident keeps its summary: row, shot, pulses, the (fulfilled) request.
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.DISMISSED
    assert incident.nearest_address == "100 Main St"
    assert len(pulse_ids_of(incident)) == 4
    assert AudioRequest.objects.filter(incident=incident).count() == 1


def test_the_period_runs_from_the_decision_not_the_shots(site):
    _, area, sensors = site
    incident = incident_with_shot(
        area=area, sensors=sensors, status="pending_review", at=days_ago(100)
    )
    clip = clip_for(incident)
    decide(incident, gunfire=False)  # decided today, about shots 100 days ago

    retention.retention_apply()

    assert AudioClip.objects.filter(pk=clip.pk).exists()
    assert media_file(clip).is_file()


def test_published_audio_is_kept_as_evidence_forever(site):
    _, area, sensors = site
    incident = incident_with_shot(
        area=area, sensors=sensors, status="pending_review", at=days_ago(500)
    )
    clip = clip_for(incident)
    decide(incident, gunfire=True)

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=36500))

    assert report.counts["dismissed_audio_clips"] == 0
    assert AudioClip.objects.filter(pk=clip.pk).exists()
    assert media_file(clip).read_bytes()[:4] == b"RIFF"


def test_a_cancelled_alert_loses_its_audio_a_period_after_the_cancellation(site):
    _, area, sensors = site
    incident = incident_with_shot(area=area, sensors=sensors, status="pending_review")
    clip = clip_for(incident)
    decide(incident, gunfire=True)
    # Published 100 days ago, cancelled today.
    ReviewDecision.objects.filter(incident=incident).update(
        decided_at=days_ago(100), updated_at=days_ago(100)
    )
    review.reclassify(
        reviewer=reviewer(),
        incident_id=incident.pk,
        decision="not_gunfire",
        not_gunfire_reason="firework",
        reason="It was a mortar firework.",
    )

    retention.retention_apply(now=timezone.now() + dt.timedelta(days=13))
    assert media_file(clip).is_file()
    retention.retention_apply(now=timezone.now() + dt.timedelta(days=15))
    assert not media_file(clip).exists()
    assert not AudioClip.objects.filter(pk=clip.pk).exists()


def test_a_dismissal_reclassified_as_gunfire_keeps_its_audio(site):
    _, area, sensors = site
    incident = incident_with_shot(area=area, sensors=sensors, status="pending_review")
    clip = clip_for(incident)
    decide(incident, gunfire=False)
    review.reclassify(
        reviewer=reviewer(),
        incident_id=incident.pk,
        decision="single_gunshot",
        rounds=1,
        reason="A second listen: a gunshot.",
    )

    retention.retention_apply(now=timezone.now() + dt.timedelta(days=3650))

    assert AudioClip.objects.filter(pk=clip.pk).exists()
    assert media_file(clip).is_file()


def test_a_missing_file_still_deletes_the_clip_row(site):
    _, area, sensors = site
    incident = incident_with_shot(area=area, sensors=sensors, status="pending_review")
    clip = clip_for(incident)
    decide(incident, gunfire=False)
    media_file(clip).unlink()

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=15))

    assert not AudioClip.objects.filter(pk=clip.pk).exists()
    assert report.counts["dismissed_audio_clips"] == 1
    assert report.counts["dismissed_audio_files"] == 0


# --- Investigation audio ---------------------------------------------------------------------


def _files(investigation: InvestigationRequest):
    return [media_file(clip) for clip in investigation.clips.all()]


def test_audio_of_a_declined_investigation_is_deleted_after_the_period_record_kept(
    client, inv_agency
):
    investigation = investigation_with_clips(
        agency=inv_agency, serials=("INV-D1", "INV-D2"), closing="decline"
    )
    clips = list(investigation.clips.all())
    files = _files(investigation)
    assert len(files) == 2 and all(path.is_file() for path in files)
    # Review staff played one after the decline: that stays on the request's timeline.
    staff = verified_reviewer()
    clip_playback_authorize(user=staff, clip=clips[0])

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=9))
    assert report.counts["investigation_audio_clips"] == 0
    assert all(path.is_file() for path in files)

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=11))

    assert report.counts["investigation_audio_clips"] == 2
    assert report.counts["investigation_audio_files"] == 2
    assert report.per_agency["501"]["investigation_audio_clips"] == 2
    assert not InvestigationClip.objects.exists()
    assert not any(path.exists() for path in files)
    assert not any((django_settings.MEDIA_ROOT / "evidence").iterdir())
    # The request keeps its record: status, the answered audio requests, every step.
    investigation.refresh_from_db()
    assert investigation.status == "declined" and investigation.decline_reason
    assert list(investigation.audio_requests.values_list("status", flat=True)) == [
        AudioRequestStatus.FULFILLED,
        AudioRequestStatus.FULFILLED,
    ]
    actions = list(investigation_timeline(investigation=investigation).values_list("action"))
    assert actions[-3:] == [
        ("investigation.declined",),
        ("audio.playback",),
        ("investigation.audio_purged",),
    ]
    purged = AuditEvent.objects.get(action="investigation.audio_purged")
    assert purged.details == {
        "reference": investigation.reference,
        "status": "declined",
        "clips": 2,
        "days": 10,
    }
    assert AuditEvent.objects.filter(action="audio.playback").count() == 1
    # The page says why the audio is gone; nothing can play it any more.
    login_verified(client, staff)
    page = client.get(f"/investigations/review/{investigation.pk}/").content.decode()
    assert page.count("audio deleted (retention)") == 2
    assert "Audio deleted (retention period of a closed request)" in page
    assert "Audio played" in page
    response = client.post(f"/evidence/clips/investigation/{clips[1].pk}/playback")
    assert response.status_code == 404


def test_a_cancelled_investigation_loses_its_audio_a_period_after_the_cancellation(inv_agency):
    investigation = investigation_with_clips(
        agency=inv_agency, serials=("INV-C1",), closing="cancel"
    )
    (path,) = _files(investigation)
    # Rows made old: filed and cancelled 9 days ago, then 11.
    InvestigationRequest.objects.filter(pk=investigation.pk).update(
        created_at=days_ago(9.5), closed_at=days_ago(9)
    )
    assert retention.retention_apply().counts["investigation_audio_clips"] == 0
    assert path.is_file()
    InvestigationRequest.objects.filter(pk=investigation.pk).update(closed_at=days_ago(10.01))

    assert retention.retention_apply().counts["investigation_audio_clips"] == 1

    assert not path.exists() and not InvestigationClip.objects.exists()
    investigation.refresh_from_db()
    assert investigation.status == "cancelled"


def test_completed_investigation_audio_is_kept_as_evidence_and_open_ones_are_untouched(
    inv_agency,
):
    completed = investigation_with_clips(agency=inv_agency, serials=("INV-K1",), closing="complete")
    still_open = investigation_with_clips(agency=inv_agency, serials=("INV-O1",), closing=None)
    InvestigationRequest.objects.filter(pk=completed.pk).update(closed_at=days_ago(500))
    files = _files(completed) + _files(still_open)

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=36500))

    assert report.counts["investigation_audio_clips"] == 0
    assert InvestigationClip.objects.count() == 2
    assert all(path.read_bytes()[:4] == b"RIFF" for path in files)
    assert not AuditEvent.objects.filter(action="investigation.audio_purged").exists()


def test_investigation_audio_in_small_batches_one_event_per_request(inv_agency, settings):
    settings.RETENTION_BATCH_SIZE = 1
    first = investigation_with_clips(
        agency=inv_agency, serials=("INV-B1", "INV-B2", "INV-B3"), closing="decline"
    )
    second = investigation_with_clips(agency=inv_agency, serials=("INV-B4",), closing="cancel")

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=11))

    assert report.counts["investigation_audio_clips"] == 4
    assert not InvestigationClip.objects.exists()
    events = AuditEvent.objects.filter(action="investigation.audio_purged").order_by("id")
    assert [(e.target_id, e.details["clips"]) for e in events] == [
        (str(first.pk), 3),
        (str(second.pk), 1),
    ]


# --- Dry run, logging, audit, idempotence ---------------------------------------------------


def _everything(area, sensors):
    """One of each: what every rule deletes, and what each must keep."""
    agency = area.agency
    square_area(agency=agency, name="Investigations", centre=PLACE, half_width_m=4000.0)
    investigation_with_clips(agency=agency, serials=("INV-E1",), closing="decline")
    kept = investigation_with_clips(agency=agency, serials=("INV-E2",), closing="complete")
    orphan_pulse(sensor=sensors[0], at=days_ago(45))
    orphan_pulse(sensor=sensors[1], at=days_ago(5))
    incident_with_shot(area=area, sensors=sensors, status="filtered", at=days_ago(70))
    incident_with_shot(area=area, sensors=sensors, status="filtered", at=days_ago(10))
    published = incident_with_shot(
        area=area, sensors=sensors, status="pending_review", at=days_ago(70)
    )
    published_clip = clip_for(published)
    decide(published, gunfire=True)
    dismissed = incident_with_shot(area=area, sensors=sensors, status="pending_review")
    dismissed_clip = clip_for(dismissed)
    decide(dismissed, gunfire=False)
    return published_clip, dismissed_clip, kept.clips.get()


def _table_sizes():
    return {
        "incidents": Incident.objects.count(),
        "shots": Shot.objects.count(),
        "pulses": SensorPulse.objects.count(),
        "clips": AudioClip.objects.count(),
        "investigation_clips": InvestigationClip.objects.count(),
        "investigation_audio_requests": AudioRequest.objects.filter(
            investigation__isnull=False
        ).count(),
    }


EXPECTED = {
    "filtered_incidents": 1,
    "filtered_incident_shots": 1,
    "filtered_incident_pulses": 4,
    "pulses": 1,
    "dismissed_audio_clips": 1,
    "dismissed_audio_files": 1,
    "investigation_audio_clips": 1,
    "investigation_audio_files": 1,
}


def test_dry_run_deletes_nothing_and_reports_the_same_counts(site):
    _, area, sensors = site
    published_clip, dismissed_clip, completed_clip = _everything(area, sensors)
    later = timezone.now() + dt.timedelta(days=15)
    before = _table_sizes()
    audit_before = AuditEvent.objects.count()

    dry = retention.retention_apply(now=later, dry_run=True)

    assert dry.counts == EXPECTED
    assert _table_sizes() == before
    assert media_file(dismissed_clip).is_file()
    assert RetentionRun.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before

    real = retention.retention_apply(now=later)

    assert real.counts == dry.counts
    assert real.per_agency == dry.per_agency
    assert _table_sizes() == {
        "incidents": before["incidents"] - 1,
        "shots": before["shots"] - 1,
        "pulses": before["pulses"] - 5,
        "clips": before["clips"] - 1,
        "investigation_clips": before["investigation_clips"] - 1,
        "investigation_audio_requests": before["investigation_audio_requests"],
    }
    assert not media_file(dismissed_clip).exists()
    assert media_file(published_clip).is_file()
    assert media_file(completed_clip).is_file()


def test_each_run_is_logged_and_audited_with_counts_per_rule(site):
    agency, area, sensors = site
    quiet = AgencyFactory(system_id="502")
    _everything(area, sensors)

    report = retention.retention_apply(now=timezone.now() + dt.timedelta(days=15))

    run = RetentionRun.objects.get()
    assert run.pk == report.run_id
    assert run.trigger == "command"
    assert run.counts == EXPECTED
    assert run.per_agency == {"501": EXPECTED}
    assert set(run.cutoffs) == {
        "filtered_incidents",
        "pulses",
        "dismissed_audio",
        "investigation_audio",
    }
    events = AuditEvent.objects.filter(action="retention.purge")
    platform = events.get(agency=None)
    assert platform.details["counts"] == EXPECTED
    assert platform.details["periods_days"] == {
        "filtered_incidents": 60,
        "pulses": 30,
        "dismissed_audio": 14,
        "investigation_audio": 10,
    }
    assert platform.target_id == str(run.pk)
    own = events.get(agency=agency)
    assert own.details["counts"] == EXPECTED
    assert not events.filter(agency=quiet).exists()


def test_a_second_run_finds_nothing_more(site):
    _, area, sensors = site
    _everything(area, sensors)
    later = timezone.now() + dt.timedelta(days=15)
    retention.retention_apply(now=later)

    again = retention.retention_apply(now=later)

    assert again.counts == dict.fromkeys(retention.COUNT_KEYS, 0)
    assert RetentionRun.objects.count() == 2


def test_small_batches_delete_everything_due(site, settings):
    settings.RETENTION_BATCH_SIZE = 2
    _, area, sensors = site
    for k in range(5):
        orphan_pulse(sensor=sensors[k % 4], at=days_ago(40))
        incident_with_shot(area=area, sensors=sensors, status="filtered", at=days_ago(80))

    report = retention.retention_apply()

    assert report.counts["pulses"] == 5
    assert report.counts["filtered_incidents"] == 5
    assert SensorPulse.objects.count() == 0
    assert Incident.objects.count() == 0


# --- Configuration, command, beat -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETENTION_PULSES_DAYS", 2),
        ("RETENTION_FILTERED_INCIDENTS_DAYS", 0),
        ("RETENTION_DISMISSED_AUDIO_DAYS", 0),
        ("RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS", 0),
        ("RETENTION_PULSES_DAYS", "30"),
    ],
)
def test_periods_below_the_minimum_or_not_whole_days_are_refused(settings, name, value):
    setattr(settings, name, value)
    with pytest.raises(retention.RetentionConfigurationError, match=name):
        retention.retention_apply()
    with pytest.raises(CommandError, match=name):
        call_command("apply_retention", stdout=io.StringIO())


def test_the_command_dry_run_and_real_run(site, inv_agency):
    _, area, sensors = site
    orphan_pulse(sensor=sensors[0], at=days_ago(45))
    incident_with_shot(area=area, sensors=sensors, status="filtered", at=days_ago(70))
    declined = investigation_with_clips(agency=inv_agency, serials=("INV-M1",), closing="decline")
    InvestigationRequest.objects.filter(pk=declined.pk).update(closed_at=days_ago(11))

    out = io.StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Would delete filtered incidents: 1" in text
    assert "Would delete pulses in no shot: 1" in text
    assert "Would delete audio clips of declined or cancelled investigation requests: 1" in text
    assert "declined or cancelled investigation audio 10" in text
    assert "Dry run: nothing was deleted." in text
    assert SensorPulse.objects.count() == 5

    out = io.StringIO()
    call_command("apply_retention", stdout=out)
    text = out.getvalue()
    assert "Deleted filtered incidents: 1" in text
    assert "Deleted   their pulses: 4" in text
    assert "agency 501: filtered_incidents=1" in text
    assert "investigation_audio_clips=1, investigation_audio_files=1" in text
    assert not InvestigationClip.objects.exists()
    assert f"Retention run {RetentionRun.objects.get().pk} recorded." in text
    assert SensorPulse.objects.count() == 0


def test_celery_beat_runs_the_retention_task(site):
    _, _, sensors = site
    orphan_pulse(sensor=sensors[0], at=days_ago(45))
    entry = django_settings.CELERY_BEAT_SCHEDULE["privacy-apply-retention"]
    assert entry["task"] == "privacy.apply_retention"
    assert entry["schedule"] == float(django_settings.RETENTION_INTERVAL_S)

    counts = apply_retention.delay().get()

    assert counts["pulses"] == 1
    assert RetentionRun.objects.get().trigger == "beat"


# --- The server side of the sensors' 72 h rule ------------------------------------------------


def test_settings_needing_sensor_audio_beyond_72_hours_are_errors(settings):
    assert sensor_audio_setting_errors() == []
    settings.SENSOR_PULSE_MAX_AGE_S = 72 * 3600
    settings.AUDIO_REQUEST_EXPIRY_S = 72 * 3600
    assert sensor_audio_setting_errors() == []
    settings.SENSOR_PULSE_MAX_AGE_S = 72 * 3600 + 1
    settings.AUDIO_REQUEST_EXPIRY_S = 4 * 86400
    errors = sensor_audio_setting_errors()
    assert len(errors) == 2
    assert errors[0].startswith("SENSOR_PULSE_MAX_AGE_S=259201 would keep sensor audio")
    assert errors[1].startswith("AUDIO_REQUEST_EXPIRY_S=345600 would keep sensor audio")


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "shotspotter.settings_test", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SENSOR_PULSE_MAX_AGE_S": "259201"}, "SENSOR_PULSE_MAX_AGE_S=259201 would keep"),
        ({"AUDIO_REQUEST_EXPIRY_S": "300000"}, "AUDIO_REQUEST_EXPIRY_S=300000 would keep"),
        ({"RETENTION_PULSES_DAYS": "2"}, "RETENTION_PULSES_DAYS must be at least 3"),
    ],
)
def test_the_server_refuses_to_start_with_such_settings(env, message):
    result = _start(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


@pytest.mark.slow
def test_the_server_starts_with_the_defaults():
    result = _start({})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_platform_administrators_read_the_retention_log(client, site):
    _, _, sensors = site
    orphan_pulse(sensor=sensors[0], at=days_ago(45))
    run = RetentionRun.objects.get(pk=retention.retention_apply().run_id)
    admin = UserFactory(platform_admin=True)
    login_verified(client, admin)

    listing = client.get("/platform-admin/privacy/retentionrun/")
    detail = client.get(f"/platform-admin/privacy/retentionrun/{run.pk}/change/")

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert b"&quot;pulses&quot;: 1" in detail.content or b'"pulses": 1' in detail.content
    assert client.post(f"/platform-admin/privacy/retentionrun/{run.pk}/delete/").status_code == 403
