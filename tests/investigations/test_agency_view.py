"""What the agency sees: its own requests only, every audited step on the request page,
the results, audio once completed (each press of play audited once, through the one
playback path of apps.evidence), and an e-mail on completion."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.evidence.models import PlaybackGrant
from apps.investigations import services
from apps.investigations.notifications import investigation_closed_notify
from apps.investigations.selectors import investigation_timeline
from tests.factories import UserFactory, add_totp_device, login_verified
from tests.incidents.support import put_audio, wav_bytes
from tests.investigations.support import file_request, officer, sensor_at, store_pulses

pytestmark = pytest.mark.django_db


@pytest.fixture
def worked(client, agency, officer_user, reviewer):
    """A request taken through every step: filed, opened, searched, audio, clip stored."""
    when = timezone.now() - dt.timedelta(hours=6)
    sensor, key = sensor_at(agency, "HC-250W", east=-250)
    store_pulses(sensor, [when + dt.timedelta(seconds=0.8)])
    investigation = file_request(officer_user, occurred_at=when)
    services.investigation_record_view(investigation=investigation, reviewer=reviewer)
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    (request,) = services.investigation_audio_request(
        investigation_id=investigation.pk,
        reviewer=reviewer,
        sensor_ids=[sensor.pk],
        source_start=when - dt.timedelta(seconds=1),
        duration_s=5.0,
    )
    reply = put_audio(
        client,
        request_id=request.pk,
        body=wav_bytes(seconds=4.5),
        start=request.window_start,
        key=key,
        serial=sensor.serial_number,
    )
    assert reply.status_code == 201, reply.content
    return investigation


def _play_url(clip) -> str:
    return reverse("evidence:kind_clip_playback", args=["investigation", clip.pk])


def _play(client, investigation):
    """Press play: the audited POST of apps.evidence (the JSON names the token URL)."""
    return client.post(_play_url(investigation.clips.get()))


def test_the_request_page_shows_every_step_in_order(
    client, worked, officer_user, reviewer, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.investigation_complete(
            investigation_id=worked.pk,
            reviewer=reviewer,
            findings="Four shots at 02:14:07 from the alley behind 1200 W Main; clip attached.",
        )
    actions = list(investigation_timeline(investigation=worked).values_list("action", flat=True))
    assert actions == [
        "investigation.filed",
        "investigation.viewed",
        "investigation.searched",
        "investigation.audio_requested",
        "investigation.audio_stored",
        "investigation.completed",
        "investigation.notified",
    ]
    client.force_login(officer_user)
    page = client.get(reverse("investigations:detail", args=[worked.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for label in (
        "Filed",
        "Opened by the review center",
        "Stored pulses searched",
        "Audio requested from sensors",
        "Audio received from a sensor",
        "Completed",
        "Agency notified by e-mail",
    ):
        assert label in html, label
    assert html.index("Opened by the review center") < html.index("Stored pulses searched")
    assert "reviewer@irc.example" in html
    assert "Four shots at 02:14:07" in html and "HC-250W" in html
    assert "1 pulses from 1 sensors" in html

    (message,) = smtp_server.messages
    assert message["To"] == "detective@harbor.example"
    assert "INV-612-1" in message["Subject"] and "completed" in message["Subject"]
    body = smtp_server.body(message)
    assert f"/investigations/{worked.pk}/" in body and "Four shots" in body
    assert investigation_closed_notify(investigation_id=worked.pk) == 0  # sent once
    assert len(smtp_server.messages) == 1


def test_a_declined_request_tells_the_agency_why(
    agency, officer_user, reviewer, smtp_server, django_capture_on_commit_callbacks
):
    boss = officer(agency, role="agency_super_user", email="chief@harbor.example")
    investigation = file_request(officer_user)
    with pytest.raises(services.InvestigationError, match="reason"):
        services.investigation_decline(
            investigation_id=investigation.pk, reviewer=reviewer, reason="no"
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.investigation_decline(
            investigation_id=investigation.pk,
            reviewer=reviewer,
            reason="The place is a firing range; no gunfire incident is described.",
        )
    (message,) = smtp_server.messages
    assert sorted(message["To"].split(", ")) == [boss.email, officer_user.email]
    assert "firing range" in smtp_server.body(message)
    assert AuditEvent.objects.filter(action="investigation.declined").count() == 1


def test_audio_plays_for_the_agency_only_once_completed_and_each_playback_is_audited(
    client, worked, officer_user, reviewer, settings
):
    clip = worked.clips.get()
    stored = clip.file.open("rb").read()
    client.force_login(officer_user)
    assert _play(client, worked).status_code == 404  # still open
    assert not PlaybackGrant.objects.exists()
    services.investigation_complete(
        investigation_id=worked.pk, reviewer=reviewer, findings="Shots confirmed by audio."
    )
    first = _play(client, worked)
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    # The audio element's Range requests belong to the same playback: no further event.
    url = first.json()["url"]
    head = client.get(url, HTTP_RANGE="bytes=0-99")
    tail = client.get(url, HTTP_RANGE="bytes=100-")
    assert (head.status_code, tail.status_code) == (206, 206)
    assert tail["Content-Type"] == "audio/wav" and head.content + tail.content == stored
    assert client.get(url, HTTP_RANGE="bytes=0-").status_code == 410  # no replay by token
    _play(client, worked)
    plays = AuditEvent.objects.filter(action="audio.playback")
    assert plays.count() == 2 and {e.actor for e in plays} == {officer_user}
    event = plays.first()
    assert event.agency == worked.agency and event.target_type == "investigations.investigationclip"
    assert event.target_id == str(clip.pk) and event.target_label == f"{worked.reference} HC-250W"
    assert event.details["investigation_id"] == worked.pk
    assert event.details["investigation"] == worked.reference
    assert event.details["sha256"] == clip.sha256
    assert client.get(_play_url(clip)).status_code == 405  # a link or prefetch never plays it

    login_verified(client, reviewer)
    assert _play(client, worked).status_code == 200
    assert plays.filter(actor=reviewer).count() == 1
    page = client.get(reverse("investigations:review", args=[worked.pk]))
    assert page.content.count(b"Audio played") == 3  # on the request's timeline
    assert _play_url(clip).encode() in page.content


def test_reviewers_may_play_while_the_request_is_open_the_agency_may_not(
    client, worked, officer_user, reviewer
):
    boss = officer(worked.agency, role="agency_super_user")
    for user in (officer_user, boss):
        login_verified(client, user)
        assert _play(client, worked).status_code == 404
        page = client.get(reverse("investigations:detail", args=[worked.pk]))
        assert b"playable once the request is completed" in page.content
        assert _play_url(worked.clips.get()).encode() not in page.content
    unverified = UserFactory(irc_reviewer=True)
    add_totp_device(unverified)
    client.force_login(unverified)  # password only: sent to the second factor
    assert _play(client, worked).status_code == 302
    login_verified(client, reviewer)
    assert _play(client, worked).status_code == 200
    assert AuditEvent.objects.filter(action="audio.playback").get().actor == reviewer


def test_a_cancelled_request_stays_playable_by_reviewers_never_by_the_agency(
    client, worked, officer_user, reviewer
):
    login_verified(client, reviewer)
    url = _play(client, worked).json()["url"]
    services.investigation_cancel(investigation_id=worked.pk, user=officer_user)
    assert client.get(url).status_code == 200  # reviewers still may: review evidence
    client.force_login(officer_user)
    assert _play(client, worked).status_code == 404


def test_a_changed_file_is_not_played(client, worked, officer_user, reviewer):
    services.investigation_complete(
        investigation_id=worked.pk, reviewer=reviewer, findings="Shots confirmed by audio."
    )
    clip = worked.clips.get()
    with open(clip.file.path, "r+b") as handle:
        handle.seek(60)
        handle.write(b"\x7f\x7f")
    client.force_login(officer_user)
    response = _play(client, worked)
    assert response.status_code == 409 and "checksum" in response.json()["detail"]
    failed = AuditEvent.objects.get(action="audio.integrity_failed")
    assert failed.details["investigation_id"] == worked.pk
    assert not AuditEvent.objects.filter(action="audio.playback").exists()
    assert not PlaybackGrant.objects.exists()
    page = client.get(reverse("investigations:detail", args=[worked.pk]))
    assert b"Audio not played: checksum mismatch" in page.content


def test_another_agency_sees_nothing_of_the_request(
    client, worked, other_agency, reviewer, officer_user
):
    services.investigation_complete(
        investigation_id=worked.pk, reviewer=reviewer, findings="Shots confirmed by audio."
    )
    stranger = officer(other_agency)
    boss = officer(other_agency, role="agency_super_user")
    theirs = file_request(officer(other_agency), latitude=worked.latitude)
    for user in (stranger, boss):
        login_verified(client, user)
        listing = client.get(reverse("investigations:list"))
        assert listing.status_code == 200
        assert worked.reference.encode() not in listing.content
        assert theirs.reference.encode() in listing.content
        assert client.get(reverse("investigations:detail", args=[worked.pk])).status_code == 404
        theirs_clip = _play(client, worked)
        missing = client.post(
            reverse("evidence:kind_clip_playback", args=["investigation", 10_000_000])
        )
        assert theirs_clip.status_code == missing.status_code == 404
        assert theirs_clip.json() == missing.json()
    assert not AuditEvent.objects.filter(action="audio.playback").exists()
    assert not PlaybackGrant.objects.exists()
    # The agency's audit log has its own request's steps and none of the other's.
    login_verified(client, boss)
    log = client.get(reverse("agency_admin:audit"))
    assert log.status_code == 200 and worked.reference.encode() not in log.content
    own_boss = officer(worked.agency, role="agency_super_user")
    login_verified(client, own_boss)
    assert worked.reference.encode() in client.get(reverse("agency_admin:audit")).content


def test_the_list_shows_the_agencys_requests_and_their_status(client, agency, officer_user):
    first = file_request(officer_user)
    colleague = UserFactory(agency=agency, applications=["investigator_portal"])
    second = file_request(colleague, case_number="HC-99")
    client.force_login(officer_user)
    html = client.get(reverse("investigations:list")).content.decode()
    assert first.reference in html and second.reference in html and "Submitted" in html
