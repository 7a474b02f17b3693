"""Investigation audio: 800 m, the 72 h buffer, 8 s and one window per sensor, enforced
by the service (refusals say why and write nothing), and served and accepted by the
ordinary signed sensor API only inside the request's window."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.acoustics.sound import speed_of_sound
from apps.audit.models import AuditEvent
from apps.incidents.models import AudioClip, AudioRequest, AudioRequestStatus
from apps.incidents.services import AudioRequestNotFound, audio_clip_store
from apps.investigations import services
from apps.investigations.models import InvestigationClip, InvestigationStatus
from apps.investigations.services import InvestigationError
from tests.factories import login_verified
from tests.incidents.support import get_audio_requests, put_audio, wav_bytes
from tests.investigations.support import file_request, iso, sensor_at

pytestmark = pytest.mark.django_db

RATE = 12_000


@pytest.fixture
def scene(agency, other_agency, officer_user, reviewer):
    """A searched request two hours old, with sensors at known distances from its place."""
    when = timezone.now() - dt.timedelta(hours=2)
    sensors = {
        "near": sensor_at(agency, "HC-300N", north=300),
        "mid": sensor_at(agency, "HC-600E", east=600),
        "edge": sensor_at(agency, "HC-790S", north=-790),
        "far": sensor_at(agency, "HC-900S", north=-900),
        "theirs": sensor_at(other_agency, "OT-100N", north=100),
    }
    investigation = file_request(officer_user, occurred_at=when, tolerance_s=120)
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    return investigation, sensors, when


def _ask(investigation, reviewer, sensors, *, start, duration_s=6.0, now=None):
    return services.investigation_audio_request(
        investigation_id=investigation.pk,
        reviewer=reviewer,
        sensor_ids=[s.pk for s in sensors],
        source_start=start,
        duration_s=duration_s,
        now=now,
    )


def _nothing_written(investigation):
    investigation.refresh_from_db()
    assert not AudioRequest.objects.filter(investigation=investigation).exists()
    assert investigation.status == InvestigationStatus.IN_REVIEW
    assert not AuditEvent.objects.filter(action="investigation.audio_requested").exists()


def test_windows_are_shifted_by_distance_expire_with_the_buffer_and_are_audited(scene, reviewer):
    investigation, sensors, when = scene
    near, mid = sensors["near"][0], sensors["mid"][0]
    start = when - dt.timedelta(seconds=2)

    created = _ask(investigation, reviewer, [near, mid], start=start, duration_s=8.0)

    c = speed_of_sound(15.0)
    assert [r.sensor for r in created] == [near, mid]
    for request, metres in zip(created, (300, 600), strict=True):
        assert request.distance_m == pytest.approx(metres, abs=1.0)
        expected = start + dt.timedelta(seconds=request.distance_m / c)
        assert abs((request.window_start - expected).total_seconds()) < 2e-6
        assert request.window_s == pytest.approx(8.0, abs=2e-6)
        assert request.status == AudioRequestStatus.PENDING and request.incident is None
        assert request.expires_at <= request.window_start + dt.timedelta(hours=72)
    investigation.refresh_from_db()
    assert investigation.status == InvestigationStatus.AUDIO_REQUESTED
    event = AuditEvent.objects.get(action="investigation.audio_requested")
    assert event.actor == reviewer and event.agency == investigation.agency
    assert [s["serial"] for s in event.details["sensors"]] == ["HC-300N", "HC-600E"]


def test_a_sensor_beyond_800_m_is_refused_and_nothing_is_requested(scene, reviewer):
    investigation, sensors, when = scene
    with pytest.raises(InvestigationError) as refused:
        _ask(investigation, reviewer, [sensors["near"][0], sensors["far"][0]], start=when)
    (message,) = refused.value.messages
    assert re.search(r"Sensor HC-900S is 89\d m from the filed place", message), message
    assert "within 800 m" in message
    _nothing_written(investigation)
    assert len(_ask(investigation, reviewer, [sensors["edge"][0]], start=when)) == 1


def test_more_than_8_seconds_per_sensor_is_refused(scene, reviewer):
    investigation, sensors, when = scene
    for duration in (8.001, 30.0, 0.0, -1.0):
        with pytest.raises(InvestigationError, match="at most 8 s per sensor"):
            _ask(investigation, reviewer, [sensors["near"][0]], start=when, duration_s=duration)
    _nothing_written(investigation)


def test_audio_older_than_the_72_hour_buffer_is_refused(scene, reviewer):
    investigation, sensors, when = scene
    near = sensors["near"][0]
    later = timezone.now() + dt.timedelta(hours=71)  # the window is 73 h old by then
    with pytest.raises(InvestigationError) as refused:
        _ask(investigation, reviewer, [near], start=when, now=later)
    assert "sensors keep audio only 72 h, it is gone" in refused.value.messages[0]
    _nothing_written(investigation)
    # Seconds before the buffer lets it go, it can still be asked for, and the request
    # expires when the sensor purges the window's start, not later.
    almost = when + dt.timedelta(hours=72) - dt.timedelta(seconds=5)
    (created,) = _ask(investigation, reviewer, [near], start=when, now=almost)
    assert created.expires_at == created.window_start + dt.timedelta(hours=72)
    assert created.expires_at < almost + dt.timedelta(minutes=1)


def test_one_window_per_sensor(scene, reviewer):
    investigation, sensors, when = scene
    near, mid = sensors["near"][0], sensors["mid"][0]
    _ask(investigation, reviewer, [near], start=when, duration_s=2.0)
    with pytest.raises(InvestigationError, match="HC-300N already has its one window"):
        _ask(investigation, reviewer, [mid, near], start=when + dt.timedelta(seconds=3))
    assert list(
        AudioRequest.objects.filter(investigation=investigation).values_list("sensor", flat=True)
    ) == [near.pk]
    assert AuditEvent.objects.filter(action="investigation.audio_requested").count() == 1


def test_the_window_must_lie_in_the_filed_time_and_tolerance(scene, reviewer):
    investigation, sensors, when = scene
    for start in (when - dt.timedelta(seconds=125), when + dt.timedelta(seconds=116)):
        with pytest.raises(InvestigationError, match="not inside the filed time ± tolerance"):
            _ask(investigation, reviewer, [sensors["near"][0]], start=start)
    _nothing_written(investigation)


def test_another_agencys_sensor_or_an_unknown_id_is_refused(scene, reviewer):
    investigation, sensors, when = scene
    with pytest.raises(InvestigationError, match="not sensors of Harbor City"):
        _ask(investigation, reviewer, [sensors["theirs"][0]], start=when)
    with pytest.raises(InvestigationError, match="Choose at least one sensor"):
        _ask(investigation, reviewer, [], start=when)
    _nothing_written(investigation)


def test_audio_needs_a_search_first_and_an_open_request(agency, officer_user, reviewer):
    sensor, _ = sensor_at(agency, "HC-50N", north=50)
    when = timezone.now() - dt.timedelta(hours=1)
    investigation = file_request(officer_user, occurred_at=when)
    with pytest.raises(InvestigationError, match="Search the stored pulses"):
        _ask(investigation, reviewer, [sensor], start=when)
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    services.investigation_decline(
        investigation_id=investigation.pk, reviewer=reviewer, reason="Not verified gunfire."
    )
    with pytest.raises(InvestigationError, match="Declined"):
        _ask(investigation, reviewer, [sensor], start=when)
    assert not AudioRequest.objects.exists()


def test_a_window_not_recorded_yet_is_refused(agency, officer_user, reviewer):
    sensor, _ = sensor_at(agency, "HC-40N", north=40)
    when = timezone.now()
    investigation = file_request(officer_user, occurred_at=when)
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    with pytest.raises(InvestigationError, match="ends in the future"):
        _ask(investigation, reviewer, [sensor], start=when - dt.timedelta(seconds=1))
    assert not AudioRequest.objects.exists()


def test_the_page_shows_the_refusal_and_writes_nothing(client, scene, reviewer):
    investigation, sensors, when = scene
    login_verified(client, reviewer)
    url = reverse("investigations:audio", args=[investigation.pk])
    response = client.post(
        url,
        {
            "sensors": [sensors["far"][0].pk, sensors["near"][0].pk],
            "source_start": iso(when),
            "duration_s": "6",
        },
    )
    assert response.status_code == 400
    assert re.search(rb"HC-900S is 89\d m from the filed place", response.content)
    _nothing_written(investigation)
    response = client.post(
        url, {"sensors": [sensors["near"][0].pk], "source_start": iso(when), "duration_s": "6"}
    )
    assert response.status_code == 302
    assert AudioRequest.objects.filter(investigation=investigation).count() == 1


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z"])
def test_a_start_time_at_the_ends_of_the_calendar_is_a_400(client, scene, reviewer, start):
    """Converting to UTC, or adding the duration, left the datetime range (a 500)."""
    investigation, sensors, when = scene
    login_verified(client, reviewer)
    response = client.post(
        reverse("investigations:audio", args=[investigation.pk]),
        {"sensors": [sensors["near"][0].pk], "source_start": start, "duration_s": "6"},
    )
    assert response.status_code == 400
    assert b"An ISO-8601 UTC time" in response.content
    _nothing_written(investigation)


# --- Through the signed sensor API ------------------------------------------------------------


@pytest.fixture
def requested(scene, reviewer):
    investigation, sensors, when = scene
    sensor, key = sensors["near"]
    (request,) = _ask(investigation, reviewer, [sensor], start=when, duration_s=6.0)
    return investigation, request, sensor, key


def test_the_sensor_lists_the_investigation_request(client, requested, scene):
    investigation, request, sensor, key = requested
    reply = get_audio_requests(client, key=key, serial=sensor.serial_number)
    assert reply.status_code == 200
    assert reply.json()["serial"] == sensor.serial_number
    assert {"requests": reply.json()["requests"]} == {
        "requests": [
            {
                "id": request.pk,
                "incident": None,
                "investigation": "INV-612-1",
                "start_utc": iso(request.window_start),
                "end_utc": iso(request.window_end),
                "sample_rate": RATE,
                "expires_at": iso(request.expires_at),
            }
        ]
    }
    other, other_key = scene[1]["mid"]
    assert (
        get_audio_requests(client, key=other_key, serial=other.serial_number).json()["requests"]
        == []
    )


def test_an_upload_inside_the_window_is_stored_and_audited(client, requested):
    investigation, request, sensor, key = requested
    body = wav_bytes(seconds=request.window_s)
    reply = put_audio(
        client,
        request_id=request.pk,
        body=body,
        start=request.window_start,
        key=key,
        serial=sensor.serial_number,
    )
    assert reply.status_code == 201, reply.content
    digest = hashlib.sha256(body).hexdigest()
    assert reply.json() == {"status": "stored", "sha256": digest}
    clip = InvestigationClip.objects.get()
    assert (clip.investigation, clip.sensor, clip.request) == (investigation, sensor, request)
    assert clip.start_time == request.window_start and clip.sha256 == digest
    with clip.file.open("rb") as stored:
        assert stored.read() == body
    assert not AudioClip.objects.exists()  # not incident evidence
    request.refresh_from_db()
    assert request.status == AudioRequestStatus.FULFILLED
    event = AuditEvent.objects.get(action="investigation.audio_stored")
    assert event.target_id == str(investigation.pk) and event.details["sha256"] == digest
    again = put_audio(
        client,
        request_id=request.pk,
        body=body,
        start=request.window_start,
        key=key,
        serial=sensor.serial_number,
    )
    assert again.status_code == 409
    assert InvestigationClip.objects.count() == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("starts_before_window", 422),
        ("ends_after_window", 422),
        ("longer_than_window", 422),
        ("wrong_sample_rate", 422),
        ("not_a_wav", 400),
    ],
)
def test_an_upload_outside_the_window_is_refused_and_nothing_is_stored(
    client, requested, case, status, settings
):
    investigation, request, sensor, key = requested
    start = request.window_start
    body = wav_bytes(seconds=4.0)
    if case == "starts_before_window":
        start = request.window_start - dt.timedelta(milliseconds=1)
    elif case == "ends_after_window":
        start = request.window_end - dt.timedelta(seconds=3.9)
    elif case == "longer_than_window":
        body = wav_bytes(seconds=request.window_s + 0.01)
    elif case == "wrong_sample_rate":
        body = wav_bytes(seconds=2.0, rate=8000)
    elif case == "not_a_wav":
        body = b"RIFF" + b"\0" * 100
    reply = put_audio(
        client, request_id=request.pk, body=body, start=start, key=key, serial=sensor.serial_number
    )
    assert reply.status_code == status, reply.content
    assert reply["Content-Type"] == "application/problem+json"
    assert not InvestigationClip.objects.exists()
    evidence = settings.MEDIA_ROOT / "evidence"
    assert not evidence.exists() or not any(evidence.iterdir())
    request.refresh_from_db()
    assert request.status == AudioRequestStatus.PENDING
    assert not AuditEvent.objects.filter(action="investigation.audio_stored").exists()


def test_the_incident_audio_path_never_takes_an_investigation_request(requested):
    investigation, request, sensor, key = requested
    with pytest.raises(AudioRequestNotFound):
        audio_clip_store(
            sensor=sensor,
            request_id=request.pk,
            body=wav_bytes(seconds=1.0),
            start_time=request.window_start,
        )
    assert not AudioClip.objects.exists() and not InvestigationClip.objects.exists()


def test_a_closed_request_takes_no_more_audio(client, requested, reviewer):
    investigation, request, sensor, key = requested
    services.investigation_complete(
        investigation_id=investigation.pk, reviewer=reviewer, findings="Nothing audible found."
    )
    request.refresh_from_db()
    assert request.status == AudioRequestStatus.WITHDRAWN
    assert get_audio_requests(client, key=key, serial=sensor.serial_number).json()["requests"] == []
    reply = put_audio(
        client,
        request_id=request.pk,
        body=wav_bytes(seconds=2.0),
        start=request.window_start,
        key=key,
        serial=sensor.serial_number,
    )
    assert reply.status_code == 409
    assert not InvestigationClip.objects.exists()


# --- A window that expired unanswered may be asked again --------------------------------------


def test_a_sensor_whose_request_expired_unanswered_may_be_asked_again(client, requested, reviewer):
    investigation, first, sensor, key = requested
    start = first.window_start - dt.timedelta(seconds=first.distance_m / speed_of_sound(15.0))
    # While it is live, the sensor's one window is taken.
    with pytest.raises(InvestigationError, match="HC-300N already has its one window"):
        _ask(investigation, reviewer, [sensor], start=start)
    # Time travel past its expiry, before the periodic task marked it: it is expired now.
    later = first.expires_at + dt.timedelta(seconds=1)
    (second,) = _ask(investigation, reviewer, [sensor], start=start, duration_s=5.0, now=later)

    first.refresh_from_db()
    assert first.status == AudioRequestStatus.EXPIRED
    assert second.status == AudioRequestStatus.PENDING and second.pk != first.pk
    assert second.window_s == pytest.approx(5.0, abs=2e-6)
    first_event, event = AuditEvent.objects.filter(action="investigation.audio_requested").order_by(
        "id"
    )
    assert first_event.details["again_after_expiry"] == []
    assert event.details["again_after_expiry"] == ["HC-300N"]
    login_verified(client, reviewer)
    page = client.get(reverse("investigations:review", args=[investigation.pk]))
    assert b"again for HC-300N: the earlier request expired unanswered" in page.content
    client.logout()
    # The sensor sees only the new request, and its answer is stored.
    reply = get_audio_requests(client, key=key, serial=sensor.serial_number).json()
    assert [r["id"] for r in reply["requests"]] == [second.pk]
    body = wav_bytes(seconds=4.0)
    stored = put_audio(
        client,
        request_id=second.pk,
        body=body,
        start=second.window_start,
        key=key,
        serial=sensor.serial_number,
    )
    assert stored.status_code == 201, stored.content
    # Answered: the window is taken for good.
    with pytest.raises(InvestigationError, match="HC-300N already has its one window"):
        _ask(investigation, reviewer, [sensor], start=start, now=later)
    assert AudioRequest.objects.filter(investigation=investigation).count() == 2


def test_the_periodic_expiry_frees_the_window_too(requested, reviewer):
    from apps.incidents.services import audio_requests_expire

    investigation, first, sensor, _ = requested
    later = first.expires_at + dt.timedelta(seconds=1)
    assert audio_requests_expire(now=later) == 1
    (second,) = _ask(investigation, reviewer, [sensor], start=first.window_start, now=later)
    assert second.sensor == sensor


def test_the_database_allows_one_live_or_answered_window_per_sensor(requested):
    from django.db import IntegrityError, transaction

    investigation, first, sensor, _ = requested

    def another(status):
        return AudioRequest.objects.create(
            investigation=investigation,
            sensor=sensor,
            window_start=first.window_start,
            window_end=first.window_end,
            distance_m=first.distance_m,
            expires_at=first.expires_at,
            status=status,
        )

    for status in (AudioRequestStatus.PENDING, AudioRequestStatus.FULFILLED, "refused"):
        with pytest.raises(IntegrityError), transaction.atomic():
            another(status)
    # Expired and withdrawn requests hold no window: any number of them may exist.
    another(AudioRequestStatus.EXPIRED)
    another(AudioRequestStatus.WITHDRAWN)
    AudioRequest.objects.filter(pk=first.pk).update(status=AudioRequestStatus.EXPIRED)
    assert another(AudioRequestStatus.PENDING).status == AudioRequestStatus.PENDING
