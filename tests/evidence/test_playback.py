"""The one audio playback path: who may play, one audit event per press of play, the
token the audio element's (Range) requests carry, and what is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Application, Role
from apps.audit.models import AuditEvent
from apps.evidence import services
from apps.evidence.models import PlaybackGrant
from apps.evidence.services import RangeNotSatisfiable, parse_byte_range
from apps.review import services as review
from tests.factories import AgencyFactory, UserFactory, add_totp_device, login_as
from tests.portal.support import add_clip, pending_incident, published_incident, wav_bytes

pytestmark = pytest.mark.django_db

CONSOLE = [Application.ALERT_CONSOLE]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def agency():
    return AgencyFactory()


@pytest.fixture
def clip(agency):
    return add_clip(published_incident(agency))


def play_url(clip) -> str:
    return reverse("evidence:clip_playback", args=[clip.pk])


def client_for(user) -> Client:
    client = Client()
    login_as(client, user)
    return client


def playbacks() -> int:
    return AuditEvent.objects.filter(action="audio.playback").count()


def authorize(client, clip) -> str:
    response = client.post(play_url(clip))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()["url"]


# --- Who may play ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, allowed",
    [
        ("reviewer", True),
        ("platform_admin", True),
        ("police_console", True),
        ("police_investigator", True),
        ("police_siren", True),
        ("agency_super_user_siren", True),
        ("police_briefing_room_only", False),
        ("police_no_application", False),
        ("police_of_another_agency", False),
        ("super_user_of_another_agency", False),
        ("inactive_police", False),
    ],
)
def test_each_role_is_allowed_or_refused_a_published_clip(who, allowed, agency, clip):
    other = AgencyFactory()
    user = {
        "reviewer": lambda: UserFactory(irc_reviewer=True),
        "platform_admin": lambda: UserFactory(role=Role.PLATFORM_ADMIN, agency=None),
        "police_console": lambda: UserFactory(agency=agency, applications=CONSOLE),
        "police_investigator": lambda: UserFactory(
            agency=agency, applications=[Application.INVESTIGATOR_PORTAL]
        ),
        "police_siren": lambda: UserFactory(agency=agency, applications=[Application.SIREN]),
        "agency_super_user_siren": lambda: UserFactory(
            super_user=True, agency=agency, applications=[Application.SIREN]
        ),
        "police_briefing_room_only": lambda: UserFactory(
            agency=agency, applications=[Application.BRIEFING_ROOM]
        ),
        "police_no_application": lambda: UserFactory(agency=agency),
        "police_of_another_agency": lambda: UserFactory(
            agency=other, applications=list(Application)
        ),
        "super_user_of_another_agency": lambda: UserFactory(
            super_user=True, agency=other, applications=list(Application)
        ),
        "inactive_police": lambda: UserFactory(agency=agency, applications=CONSOLE),
    }[who]()
    client = client_for(user)
    if who == "inactive_police":
        user.is_active = False
        user.save(update_fields=["is_active"])
    response = client.post(play_url(clip))
    if allowed:
        assert response.status_code == 200
        assert client.get(response.json()["url"]).content == wav_bytes()
        event = AuditEvent.objects.get(action="audio.playback")
        assert event.actor == user and event.agency == agency
    else:
        # Refused exactly like a clip that does not exist (404), or sent to log in.
        assert response.status_code in (302, 404)
        assert playbacks() == 0 and not PlaybackGrant.objects.exists()


def test_another_agencys_clip_is_404_like_a_missing_one(agency, clip):
    stranger = UserFactory(agency=AgencyFactory(), applications=list(Application))
    client = client_for(stranger)
    theirs = client.post(play_url(clip))
    missing = client.post(reverse("evidence:clip_playback", args=[clip.pk + 10_000]))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert playbacks() == 0


def test_unpublished_clips_are_for_reviewers_only(agency):
    clip = add_clip(pending_incident(agency))
    officer = UserFactory(agency=agency, applications=list(Application))
    assert client_for(officer).post(play_url(clip)).status_code == 404
    reviewer = UserFactory(irc_reviewer=True)
    assert client_for(reviewer).post(play_url(clip)).status_code == 200
    assert AuditEvent.objects.get(action="audio.playback").actor == reviewer


def test_a_clip_dismissed_without_being_published_is_not_for_the_agency(agency):
    incident = pending_incident(agency)
    clip = add_clip(incident)
    reviewer = UserFactory(irc_reviewer=True)
    review.claim(reviewer=reviewer, incident_id=incident.pk)
    review.decide(
        reviewer=reviewer,
        incident_id=incident.pk,
        decision="not_gunfire",
        rounds=incident.rounds,
        not_gunfire_reason="firecracker",
    )
    incident.refresh_from_db()
    assert incident.status == "dismissed" and incident.published_at is None
    officer = UserFactory(agency=agency, applications=list(Application))
    assert client_for(officer).post(play_url(clip)).status_code == 404
    assert client_for(reviewer).post(play_url(clip)).status_code == 200


def test_a_published_then_cancelled_clip_stays_playable_by_the_agency_and_audited(
    agency, clip, django_capture_on_commit_callbacks
):
    reviewer = UserFactory(irc_reviewer=True)
    with django_capture_on_commit_callbacks(execute=True):
        review.reclassify(
            reviewer=reviewer,
            incident_id=clip.incident_id,
            decision="not_gunfire",
            not_gunfire_reason="firecracker",
            reason="Firecracker string on the audio.",
            flags=[],
        )
    clip.incident.refresh_from_db()
    assert clip.incident.status == "dismissed" and clip.incident.published_at is not None
    officer = UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL])
    client = client_for(officer)
    assert client.get(authorize(client, clip)).content == wav_bytes()
    event = AuditEvent.objects.get(action="audio.playback")
    assert event.actor == officer and event.agency == agency


def test_logged_out_is_sent_to_log_in_and_an_unverified_reviewer_to_the_code_page(clip):
    response = Client().post(play_url(clip))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    reviewer = UserFactory(irc_reviewer=True)
    add_totp_device(reviewer)
    client = Client()
    client.force_login(reviewer)  # password only
    response = client.post(play_url(clip))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert playbacks() == 0


# --- One audit event per press of play ---------------------------------------------------------


def test_each_press_of_play_is_one_event_however_many_range_requests_follow(agency, clip):
    officer = UserFactory(agency=agency, applications=CONSOLE)
    client = client_for(officer)
    url = authorize(client, clip)
    assert playbacks() == 1
    size = len(wav_bytes())
    # An audio element's requests: from byte 0, then a seek, then the tail.
    head = client.get(url, HTTP_RANGE="bytes=0-99")
    middle = client.get(url, HTTP_RANGE=f"bytes=100-{size // 2}")
    tail = client.get(url, HTTP_RANGE=f"bytes={size // 2 + 1}-")
    assert [r.status_code for r in (head, middle, tail)] == [206, 206, 206]
    assert head.content + middle.content + tail.content == wav_bytes()
    assert playbacks() == 1
    grant = PlaybackGrant.objects.get()
    assert grant.fetches == 3 and grant.bytes_served == size
    assert grant.audit_event == AuditEvent.objects.get(action="audio.playback")
    # Pressing play again is a new playback: a new event, a new token.
    second = authorize(client, clip)
    assert second != url and playbacks() == 2
    event = AuditEvent.objects.filter(action="audio.playback").last()
    assert event.target_type == "incidents.audioclip" and event.target_id == str(clip.pk)
    assert event.details["incident"] == clip.incident.reference
    assert event.details["clip_id"] == clip.pk and event.details["sha256"] == clip.sha256


def test_range_responses_follow_rfc_9110(agency, clip):
    client = client_for(UserFactory(agency=agency, applications=CONSOLE))
    url = authorize(client, clip)
    data, size = wav_bytes(), len(wav_bytes())
    first = client.get(url, HTTP_RANGE="bytes=0-")
    assert first.status_code == 206
    assert first["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    assert first["Accept-Ranges"] == "bytes" and first["Content-Type"] == "audio/wav"
    assert first["Cache-Control"] == "no-store" and first.content == data
    suffix = client.get(url, HTTP_RANGE="bytes=-10")
    assert suffix.status_code == 206 and suffix.content == data[-10:]
    assert suffix["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    past = client.get(url, HTTP_RANGE=f"bytes={size}-")
    assert past.status_code == 416, past.content
    assert past["Content-Range"] == f"bytes */{size}"
    assert playbacks() == 1


def test_a_request_without_range_gets_the_whole_clip_once(agency, clip):
    client = client_for(UserFactory(agency=agency, applications=CONSOLE))
    url = authorize(client, clip)
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == wav_bytes()
    assert whole["Accept-Ranges"] == "bytes" and whole["Cache-Control"] == "no-store"
    again = client.get(url)
    assert again.status_code == 410 and again["Cache-Control"] == "no-store"
    assert "press play again" in again.json()["detail"]


# --- Tokens: single use, short-lived, one user, one session ------------------------------------


def test_a_token_cannot_be_replayed_from_the_start(agency, clip):
    client = client_for(UserFactory(agency=agency, applications=CONSOLE))
    url = authorize(client, clip)
    assert client.get(url, HTTP_RANGE="bytes=0-").status_code == 206
    assert client.get(url, HTTP_RANGE="bytes=0-").status_code == 410  # a second copy
    assert client.get(url, HTTP_RANGE="bytes=0-99").status_code == 410
    assert playbacks() == 1


def test_a_token_serves_at_most_two_clip_sizes_in_all(agency, clip):
    client = client_for(UserFactory(agency=agency, applications=CONSOLE))
    url = authorize(client, clip)
    size = len(wav_bytes())
    assert client.get(url, HTTP_RANGE="bytes=0-").status_code == 206  # one copy
    assert client.get(url, HTTP_RANGE="bytes=1-").status_code == 206  # a seek back
    refused = client.get(url, HTTP_RANGE="bytes=1-")  # a third: a copy
    assert refused.status_code == 410
    assert PlaybackGrant.objects.get().bytes_served == 2 * size - 1
    assert playbacks() == 1


def test_an_expired_token_is_refused(agency, clip):
    client = client_for(UserFactory(agency=agency, applications=CONSOLE))
    url = authorize(client, clip)
    grant = PlaybackGrant.objects.get()
    assert grant.expires_at - grant.issued_at == dt.timedelta(seconds=services.PLAYBACK_TTL_S)
    PlaybackGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now())
    response = client.get(url, HTTP_RANGE="bytes=0-")
    assert response.status_code == 410 and "expired" in response.json()["detail"]
    grant.refresh_from_db()
    assert grant.opened_at is None and grant.fetches == 0


def test_a_token_is_refused_to_another_user_another_session_and_logged_out(agency, clip):
    officer = UserFactory(agency=agency, applications=CONSOLE)
    url = authorize(client_for(officer), clip)
    colleague = UserFactory(agency=agency, applications=CONSOLE)
    assert client_for(colleague).get(url).status_code == 404
    assert client_for(officer).get(url).status_code == 404  # same user, another session
    assert Client().get(url).status_code == 404
    assert not PlaybackGrant.objects.get().opened_at


def test_unknown_and_malformed_tokens_are_404(agency, clip):
    client = client_for(UserFactory(agency=agency, applications=CONSOLE))
    for token in ("nope", "A" * 43, "x" * 300):
        assert client.get(reverse("evidence:playback_stream", args=[token])).status_code == 404


def test_losing_the_permission_stops_a_playback_already_authorised(agency, clip):
    officer = UserFactory(agency=agency, applications=CONSOLE)
    client = client_for(officer)
    url = authorize(client, clip)
    officer.application_grants.all().delete()
    assert client.get(url).status_code == 404


def test_only_the_tokens_digest_is_stored(agency, clip):
    client = client_for(UserFactory(agency=agency, applications=CONSOLE))
    token = authorize(client, clip).rsplit("/", 1)[-1]
    grant = PlaybackGrant.objects.get()
    assert len(token) >= 40 and token not in grant.token_sha256


def test_spent_grants_are_deleted_a_day_after_they_expire(agency, clip):
    client = client_for(UserFactory(agency=agency, applications=CONSOLE))
    authorize(client, clip)
    old = PlaybackGrant.objects.get()
    PlaybackGrant.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=services.SPENT_GRANTS_KEPT_S + 1)
    )
    authorize(client, clip)
    assert list(PlaybackGrant.objects.values_list("pk", flat=True)) != [old.pk]
    assert PlaybackGrant.objects.count() == 1 and playbacks() == 2  # the events stay


# --- What the endpoints refuse ----------------------------------------------------------------


def test_the_post_needs_the_csrf_token(agency, clip):
    officer = UserFactory(agency=agency, applications=CONSOLE)
    client = Client(enforce_csrf_checks=True)
    login_as(client, officer)
    assert client.post(play_url(clip)).status_code == 403
    assert playbacks() == 0
    page = client.get(f"/console/incident/{agency.system_id}/{clip.incident.number}")
    token = page.content.decode().split('data-csrf="', 1)[1].split('"', 1)[0]
    assert client.post(play_url(clip), HTTP_X_CSRFTOKEN=token).status_code == 200
    assert playbacks() == 1


def test_methods_and_no_listing(agency, clip):
    client = client_for(UserFactory(irc_reviewer=True))
    assert client.get(play_url(clip)).status_code == 405
    url = authorize(client, clip)
    assert client.post(url).status_code == 405
    for listing in ("/evidence/", "/evidence/clips/", "/evidence/playback/"):
        assert client.get(listing).status_code == 404
    assert playbacks() == 1


def test_only_registered_kinds_play_through_the_kind_route(agency, clip):
    """``clips/<kind>/<id>/playback`` serves the kinds registered with a slug (investigation
    clips: tests/investigations/test_agency_view.py); any other kind is a 404 like a missing
    clip, and an incident clip is not reachable by guessing its model's name."""
    client = client_for(UserFactory(irc_reviewer=True))
    for kind in ("nope", "audioclip", "incident", "incidents.audioclip"):
        url = f"/evidence/clips/{kind}/{clip.pk}/playback"
        assert client.post(url).status_code == 404, kind
    missing = client.post(reverse("evidence:kind_clip_playback", args=["investigation", clip.pk]))
    assert missing.status_code == 404
    assert missing.json()["status"] == 404 and missing["Cache-Control"] == "no-store"
    assert playbacks() == 0 and not PlaybackGrant.objects.exists()


def test_a_changed_file_is_never_played_and_is_logged(agency, clip):
    client = client_for(UserFactory(irc_reviewer=True))
    url = authorize(client, clip)  # the file was intact when play was pressed
    with open(clip.file.path, "r+b") as handle:
        handle.seek(60)
        handle.write(b"\x00\x01\x02\x03")
    assert client.get(url).status_code == 409
    response = client.post(play_url(clip))
    assert response.status_code == 409 and "checksum" in response.json()["detail"]
    assert playbacks() == 1  # the press before the change
    assert AuditEvent.objects.filter(action="audio.integrity_failed").count() == 2


def test_the_service_refuses_what_the_view_would(agency, clip):
    stranger = UserFactory(agency=AgencyFactory(), applications=list(Application))
    with pytest.raises(services.ClipNotPlayable):
        services.clip_playback_authorize(user=stranger, clip=clip)
    assert playbacks() == 0


# --- Range header parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        ("", None),
        ("bytes=0-", (0, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=90-500", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes = 5-6", None),  # not the syntax
        ("bytes=5-6, 8-9", None),  # several ranges: the whole file
        ("items=0-5", None),
        ("bytes=9-3", None),
        ("bytes=a-3", None),
        ("bytes=-", None),
    ],
)
def test_parse_byte_range(header, expected):
    assert parse_byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=150-160"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_byte_range(header, 100)
