"""The review center's pages and their audio players: who gets in, what they show,
what a playback and a decision write (and what a refused one does not)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Application
from apps.audit.models import AuditEvent
from apps.incidents.models import AudioClip, IncidentStatus
from apps.review import services
from apps.review.models import IncidentHistory, ReviewClaim, ReviewDecision
from apps.review.screen import ellipse_latlngs, sensor_distances
from apps.review.waveforms import png_bytes
from tests.factories import AgencyFactory, UserFactory, login_verified
from tests.review.browser_support import make_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(agency, area):
    return make_incident(agency=agency, area=area, rounds=3, clips=3)


@pytest.fixture
def filtered_incident(agency, area):
    return make_incident(
        agency=agency, area=area, rounds=1, clips=0, status=IncidentStatus.FILTERED
    )


@pytest.fixture
def reviewer_client(reviewer) -> Client:
    client = Client()
    login_verified(client, reviewer)
    return client


def review_urls(incident, filtered_incident, area) -> list[tuple[str, str]]:
    """(method, url) of every review URL, the audio endpoint included."""
    clip = AudioClip.objects.filter(incident=incident).first()
    return [
        ("get", reverse("review:queue")),
        ("get", reverse("review:queue_rows")),
        ("post", reverse("review:claim_next")),
        ("get", reverse("review:incident", args=[incident.pk])),
        ("post", reverse("review:claim", args=[incident.pk])),
        ("post", reverse("review:release", args=[incident.pk])),
        ("post", reverse("review:touch", args=[incident.pk])),
        ("post", reverse("review:decide", args=[incident.pk])),
        ("post", reverse("review:comment", args=[incident.pk])),
        ("post", reverse("review:reclassify", args=[incident.pk])),
        ("get", reverse("review:filtered")),
        ("post", reverse("review:promote", args=[filtered_incident.pk])),
        ("post", reverse("review:surge", args=[area.pk])),
        ("get", reverse("review:metrics")),
        ("post", reverse("evidence:clip_playback", args=[clip.pk])),
    ]


def _nothing_changed(incident) -> None:
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PENDING_REVIEW
    assert not ReviewClaim.objects.exists()
    assert not ReviewDecision.objects.exists()
    assert not IncidentHistory.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="audio.").exists()


# --- Access ----------------------------------------------------------------------------------


def test_logged_out_visitors_are_sent_to_log_in_everywhere(incident, filtered_incident, area):
    client = Client()
    for method, url in review_urls(incident, filtered_incident, area):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login")), url
    _nothing_changed(incident)


@pytest.mark.parametrize("role", ["police", "agency_super_user", "police_same_agency"])
def test_agency_accounts_reach_no_review_url(role, agency, incident, filtered_incident, area):
    if role == "police":
        user = UserFactory(agency=AgencyFactory(), applications=list(Application))
    elif role == "police_same_agency":
        user = UserFactory(agency=agency, applications=list(Application))
    else:
        user = UserFactory(super_user=True, agency=agency, applications=list(Application))
    client = Client()
    login_verified(client, user)
    for method, url in review_urls(incident, filtered_incident, area):
        response = getattr(client, method)(url)
        assert response.status_code in (403, 404), (url, response.status_code)
    _nothing_changed(incident)


def test_a_reviewer_without_the_second_factor_is_sent_to_the_code_page(
    reviewer, incident, filtered_incident, area
):
    from tests.factories import add_totp_device

    add_totp_device(reviewer)
    client = Client()
    client.force_login(reviewer)  # password only
    for method, url in review_urls(incident, filtered_incident, area):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:two_factor_verify")), url
    _nothing_changed(incident)


def test_get_only_and_post_only_urls_refuse_the_other_method(reviewer_client, incident):
    assert reviewer_client.post(reverse("review:queue")).status_code == 405
    assert reviewer_client.get(reverse("review:claim_next")).status_code == 405
    clip = AudioClip.objects.filter(incident=incident).first()
    assert reviewer_client.get(reverse("evidence:clip_playback", args=[clip.pk])).status_code == 405
    assert not AuditEvent.objects.filter(action="audio.playback").exists()


# --- Queue -----------------------------------------------------------------------------------


def test_queue_lists_incidents_in_priority_order_with_holder_and_target(
    reviewer_client, reviewer, other_reviewer, agency, area
):
    single = make_incident(agency=agency, area=area, rounds=1, clips=0, detected_ago_s=50)
    multiple = make_incident(agency=agency, area=area, rounds=4, clips=0, detected_ago_s=5)
    services.claim(reviewer=other_reviewer, incident_id=single.pk)
    page = reviewer_client.get(reverse("review:queue")).content.decode()
    assert page.index(multiple.reference) < page.index(single.reference)  # multiple first
    assert "Omar Other" in page  # who holds the claimed one
    assert "/ 60 s" in page and 'id="claim-next"' in page
    rows = reviewer_client.get(reverse("review:queue_rows")).content.decode()
    assert rows.count('class="queue-row') == 2
    ages = [float(a) for a in re.findall(r'data-age="([\d.]+)"', rows)]
    assert ages[0] < 20 < ages[1]


def test_claim_next_takes_the_first_incident_and_opens_it(reviewer_client, reviewer, agency, area):
    make_incident(agency=agency, area=area, rounds=1, clips=0, detected_ago_s=50)
    multiple = make_incident(agency=agency, area=area, rounds=4, clips=0)
    response = reviewer_client.post(reverse("review:claim_next"))
    assert response.status_code == 302
    assert response["Location"] == reverse("review:incident", args=[multiple.pk])
    assert ReviewClaim.objects.get().reviewer == reviewer


def test_claim_next_on_an_empty_queue_says_so(reviewer_client):
    response = reviewer_client.post(reverse("review:claim_next"), follow=True)
    assert "Nothing unclaimed is waiting for review." in response.content.decode()
    assert not ReviewClaim.objects.exists()


def test_claiming_an_incident_someone_holds_is_refused(reviewer_client, other_reviewer, incident):
    services.claim(reviewer=other_reviewer, incident_id=incident.pk)
    response = reviewer_client.post(reverse("review:claim", args=[incident.pk]), follow=True)
    assert "is reviewing this incident" in response.content.decode()
    assert ReviewClaim.objects.get().reviewer == other_reviewer


def test_release_gives_the_incident_back(reviewer_client, reviewer, incident):
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    response = reviewer_client.post(reverse("review:release", args=[incident.pk]))
    assert response.status_code == 302
    assert not ReviewClaim.objects.exists()


def test_touch_keeps_only_a_held_claim(reviewer_client, reviewer, incident):
    url = reverse("review:touch", args=[incident.pk])
    lost = reviewer_client.post(url)
    assert lost.status_code == 409 and lost["Content-Type"] == "application/problem+json"
    assert lost.json()["held"] is False and lost.json()["detail"]
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    assert reviewer_client.post(url).json() == {"held": True}


# --- Review screen ---------------------------------------------------------------------------


def test_review_screen_shows_one_distance_per_sensor_everywhere(reviewer_client, incident):
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    rows, _ = sensor_distances(incident)
    clips = list(AudioClip.objects.filter(incident=incident))
    assert len(rows) == 6 and len(clips) == 3
    by_serial = {r.serial: round(r.distance_m) for r in rows}
    # Sensor table: every participating sensor with its distance.
    table = page[page.index('class="sensors"') :]
    for serial, metres in by_serial.items():
        assert re.search(rf"{serial}</td><td class=\"num distance\"[^>]*>{metres} m", table)
    # Players: the same number next to each clip's sensor.
    players = re.findall(
        r'class="sensor-name">([^<]+)</span>\s*<span class="distance" data-distance="(\d+)"', page
    )
    assert len(players) == 3
    for serial, metres in players:
        assert by_serial[serial] == int(metres)
    # The audio column header: the largest of the distances shown beneath it.
    header = re.search(r'class="audio-max" data-distance="(\d+)"', page)
    assert int(header.group(1)) == max(int(m) for _, m in players)
    assert [int(m) for _, m in players] == sorted(int(m) for _, m in players)


def test_review_screen_shows_pictures_marks_map_classification_and_shortcuts(
    reviewer_client, reviewer, incident
):
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    assert page.count('src="data:image/png;base64,') == 6  # waveform + spectrogram per clip
    # Three shots -> three arrival marks on each picture of each clip.
    assert page.count('class="mark"') == 3 * 2 * 3
    assert 'id="map-data"' in page and '"ellipse"' in page
    assert "gunfire" in page and "86%" in page
    for key in (
        "<kbd>1</kbd> Single gunshot",
        "<kbd>2</kbd> Multiple gunshots",
        "<kbd>3</kbd> Possible gunfire",
        "<kbd>0</kbd> Not gunfire",
        "<kbd>F</kbd> Firework",
        "<kbd>P</kbd> Publish",
        "<kbd>Esc</kbd> cancel",
    ):
        assert key in page
    assert 'id="decision-form"' in page
    # No audio is served with the page: only the POST endpoint can play it.
    assert "audio/wav" not in page and '<audio preload="none"></audio>' in page
    assert not AuditEvent.objects.filter(action="audio.playback").exists()


def test_review_screen_names_the_machines_call_not_just_the_likeliest_class(
    reviewer_client, incident
):
    """Under a gunfire threshold the call can differ from the top probability (here 0.89
    gunfire, below the model's threshold, so the call is construction): the screen must
    say what the queue says."""
    incident.machine_class = "construction"
    incident.class_probabilities = {"gunfire": 0.89, "construction": 0.11}
    incident.save(update_fields=["machine_class", "class_probabilities"])
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    assert re.search(r"machine: <strong>construction</strong> · gunfire 89%", page)
    [top] = re.findall(r'<tr class="top"><td>(\w+)', page)
    assert top == "construction"
    assert "(machine&#x27;s call)" in page or "(machine's call)" in page


def test_someone_elses_incident_is_read_only(reviewer_client, other_reviewer, incident):
    services.claim(reviewer=other_reviewer, incident_id=incident.pk)
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    assert "Held by Omar Other" in page
    assert 'id="decision-form"' not in page


def test_recent_nearby_incidents_of_the_same_agency_are_listed(
    reviewer_client, agency, area, incident
):
    near = make_incident(
        agency=agency,
        area=area,
        rounds=1,
        clips=0,
        detected_ago_s=600,
        status=IncidentStatus.DISMISSED,
    )
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    nearby = page[page.index("Recent nearby incidents") :]
    assert near.reference in nearby


def test_filtered_incidents_have_no_review_screen(reviewer_client, filtered_incident):
    url = reverse("review:incident", args=[filtered_incident.pk])
    assert reviewer_client.get(url).status_code == 404
    assert reviewer_client.get(reverse("review:incident", args=[999999])).status_code == 404


def test_ellipse_ring_has_the_right_axes():
    ring = ellipse_latlngs(lat=40.0, lon=-89.0, major_m=100.0, minor_m=20.0, azimuth_deg=90.0)
    # Azimuth 90: the major axis points east; the first point is 100 m east of the centre.
    lat, lon = ring[0]
    assert lat == pytest.approx(40.0, abs=1e-9)
    assert (lon + 89.0) * 111_320 * 0.76604 == pytest.approx(100.0, rel=1e-3)
    assert ring[0] == ring[-1]


def test_png_encoder_writes_a_valid_png():
    import zlib

    import numpy as np

    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[1, 2] = (255, 0, 0)
    data = png_bytes(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    assert len(raw) == 2 * (1 + 9) and raw[-3:] == b"\xff\x00\x00"


# --- Audio: the one playback path (apps/evidence, tested in tests/evidence) -------------------


def test_each_playback_serves_the_stored_clip_and_writes_one_audit_event(
    reviewer_client, reviewer, incident
):
    clip = AudioClip.objects.filter(incident=incident).first()
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    url = reverse("evidence:clip_playback", args=[clip.pk])
    assert f'data-play-url="{url}"' in page  # the screen's players use the one path
    for expected in (1, 2):
        response = reviewer_client.post(url)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        played = reviewer_client.get(response.json()["url"], HTTP_RANGE="bytes=0-")
        assert played.status_code == 206 and played["Content-Type"] == "audio/wav"
        with clip.file.open("rb") as handle:
            assert played.content == handle.read()
        assert AuditEvent.objects.filter(action="audio.playback").count() == expected
    event = AuditEvent.objects.filter(action="audio.playback").first()
    assert event.actor == reviewer
    assert event.agency_id == incident.agency_id  # the agency can read who listened
    assert event.target_type == "incidents.audioclip" and event.target_id == str(clip.pk)
    assert event.details["incident"] == incident.reference
    assert event.details["sha256"] == clip.sha256


def test_unknown_clips_are_404_without_an_audit_event(reviewer_client):
    response = reviewer_client.post(reverse("evidence:clip_playback", args=[987654]))
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="audio.").exists()


# --- Decisions ---------------------------------------------------------------------------------


def _decide(client, incident, **data):
    payload = {"decision": "single_gunshot", "rounds": "1", **data}
    return client.post(reverse("review:decide", args=[incident.pk]), payload)


def test_not_gunfire_without_a_reason_is_refused_and_nothing_changes(
    reviewer_client, reviewer, incident
):
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    response = _decide(reviewer_client, incident, decision="not_gunfire")
    assert response.status_code == 400
    assert "Say what it was" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PENDING_REVIEW
    assert not ReviewDecision.objects.exists() and not IncidentHistory.objects.exists()
    assert ReviewClaim.objects.get().reviewer == reviewer  # still held


def test_bad_input_is_refused_with_the_reason(reviewer_client, reviewer, incident):
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    cases = [
        ({"decision": "maybe"}, "Select a valid choice"),
        ({"decision": "multiple_gunshots", "rounds": "1"}, "at least two rounds"),
        ({"rounds": "zero"}, "Enter a whole number"),
        ({"latitude": "40.7"}, "Give both latitude and longitude"),
    ]
    for data, message in cases:
        response = _decide(reviewer_client, incident, **data)
        assert response.status_code == 400, data
        assert message in response.content.decode(), data
    assert not ReviewDecision.objects.exists()


def test_only_the_claim_holder_may_decide(reviewer_client, other_reviewer, incident):
    response = _decide(reviewer_client, incident)  # nobody holds it
    assert response.status_code == 403
    services.claim(reviewer=other_reviewer, incident_id=incident.pk)
    response = _decide(reviewer_client, incident)
    assert response.status_code == 403
    assert "Only the reviewer holding this incident" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PENDING_REVIEW
    assert not ReviewDecision.objects.exists()


def test_the_holder_publishes_and_the_incident_leaves_the_queue(
    reviewer_client, reviewer, incident
):
    from apps.realtime.models import RealtimeEvent

    services.claim(reviewer=reviewer, incident_id=incident.pk)
    response = _decide(
        reviewer_client,
        incident,
        decision="multiple_gunshots",
        rounds="3",
        comment="Three clear reports.",
    )
    assert response.status_code == 302 and response["Location"] == reverse("review:queue")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PUBLISHED
    decision = ReviewDecision.objects.get()
    assert (decision.decision, decision.rounds) == ("multiple_gunshots", 3)
    assert RealtimeEvent.objects.filter(kind="review.decided", incident_id=incident.pk).exists()
    rows = reviewer_client.get(reverse("review:queue_rows")).content.decode()
    assert incident.reference not in rows
    page = reviewer_client.get(reverse("review:queue")).content.decode()
    assert "Multiple gunshots, published." in page


def test_not_gunfire_with_a_reason_dismisses(reviewer_client, reviewer, incident):
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    response = _decide(
        reviewer_client,
        incident,
        decision="not_gunfire",
        not_gunfire_reason="firework",
        rounds="3",
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.DISMISSED


def _published(client, reviewer, incident):
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    assert _decide(client, incident, decision="single_gunshot").status_code == 302


def test_after_publication_comments_are_added_and_shown(reviewer_client, reviewer, incident):
    _published(reviewer_client, reviewer, incident)
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    assert "Add a comment" in page and "Reclassify" in page
    url = reverse("review:comment", args=[incident.pk])
    response = reviewer_client.post(url, {"text": "   "}, follow=True)
    assert "A comment cannot be empty." in response.content.decode()
    assert not IncidentHistory.objects.filter(kind="comment").exists()
    response = reviewer_client.post(url, {"text": "Second caller confirms."}, follow=True)
    assert "Second caller confirms." in response.content.decode()
    assert IncidentHistory.objects.filter(kind="comment").count() == 1


def test_reclassification_without_a_reason_is_refused(reviewer_client, reviewer, incident):
    _published(reviewer_client, reviewer, incident)
    url = reverse("review:reclassify", args=[incident.pk])
    response = reviewer_client.post(
        url, {"decision": "multiple_gunshots", "rounds": "3", "reason": ""}, follow=True
    )
    assert "A reclassification needs a reason." in response.content.decode()
    assert ReviewDecision.objects.get().decision == "single_gunshot"
    response = reviewer_client.post(
        url,
        {"decision": "multiple_gunshots", "rounds": "3", "reason": "Audio has three reports"},
        follow=True,
    )
    assert ReviewDecision.objects.get().decision == "multiple_gunshots"
    assert "Audio has three reports" in response.content.decode()  # in the history list


def test_review_center_link_only_for_review_staff(reviewer_client, agency):
    assert 'href="/review/">Review Center' in reviewer_client.get("/").content.decode()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    client = Client()
    client.force_login(officer)
    assert "Review Center" not in client.get("/").content.decode()


# --- Filtered, surge, metrics ----------------------------------------------------------------


def test_filtered_list_is_summary_only_and_promotion_needs_a_reason(
    reviewer_client, filtered_incident
):
    page = reviewer_client.get(reverse("review:filtered")).content.decode()
    assert filtered_incident.reference in page and "<audio" not in page
    url = reverse("review:promote", args=[filtered_incident.pk])
    response = reviewer_client.post(url, {"reason": "  "}, follow=True)
    assert "Say why this filtered incident needs review." in response.content.decode()
    filtered_incident.refresh_from_db()
    assert filtered_incident.status == IncidentStatus.FILTERED
    response = reviewer_client.post(url, {"reason": "Caller reported shots here"})
    assert response.status_code == 302
    filtered_incident.refresh_from_db()
    assert filtered_incident.status == IncidentStatus.PENDING_REVIEW


def test_surge_needs_confirmation_and_is_logged(reviewer_client, area):
    url = reverse("review:surge", args=[area.pk])
    response = reviewer_client.post(url, {"on": "1", "threshold": "0.9"}, follow=True)
    assert "Tick the confirmation box" in response.content.decode()
    assert not AuditEvent.objects.filter(action__startswith="review.surge").exists()
    response = reviewer_client.post(url, {"on": "1", "threshold": "0.9", "confirm": "yes"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="review.surge_on").count() == 1
    page = reviewer_client.get(reverse("review:queue")).content.decode()
    assert "surge-on" in page
    response = reviewer_client.post(
        url, {"on": "1", "threshold": "7", "confirm": "yes"}, follow=True
    )
    assert "between 0 and 1" in response.content.decode() or "less than or equal" in (
        response.content.decode()
    )


def test_metrics_page_shows_the_figures(reviewer_client, reviewer, incident):
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    _decide(reviewer_client, incident, decision="multiple_gunshots", rounds="3")
    page = reviewer_client.get(reverse("review:metrics")).content.decode()
    for text in (
        "in the queue now",
        "median detection",
        "90th percentile",
        "decided within 60 s",
        "Override of the machine classification",
        "gunfire",
    ):
        assert text in page


def test_header_names_the_beat_once(reviewer_client, agency, incident):
    """The beat's name already says "Beat 712": the header must not read "beat Beat 712"."""
    from apps.geo.models import Beat

    incident.beat = Beat.objects.get(agency=agency, name="Beat 712")
    incident.save(update_fields=["beat"])
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    where = re.search(r'<span class="where">([^<]*)</span>', page).group(1)
    assert where.endswith("· Beat 712")
    assert "beat Beat" not in page


def test_sensor_table_spans_the_audio_and_map_columns(reviewer_client, incident):
    """In the narrow map column long serials wrapped over four lines: the table has its own
    grid area under audio and map, and a serial never breaks."""
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    context_column = page[page.index('class="col-context"') : page.index('class="col-detail"')]
    assert 'class="sensors"' not in context_column
    detail_column = page[page.index('class="col-detail"') : page.index('class="col-decide"')]
    assert 'class="sensors"' in detail_column and 'td class="serial"' in detail_column


def test_screen_times_are_in_the_agencys_zone_with_its_abbreviation(
    reviewer_client, reviewer, agency, area, incident
):
    """Clip start, nearby incidents, decision and history: agency time (Chicago), like the
    portal, never bare UTC or a time without a zone."""
    import zoneinfo

    assert agency.time_zone == "America/Chicago"
    zone = zoneinfo.ZoneInfo(agency.time_zone)
    near = make_incident(
        agency=agency,
        area=area,
        rounds=1,
        clips=0,
        detected_ago_s=600,
        status=IncidentStatus.DISMISSED,
    )
    IncidentHistory.objects.create(
        incident=incident, kind="comment", actor=reviewer, actor_name=reviewer.email
    )
    page = reviewer_client.get(reverse("review:incident", args=[incident.pk])).content.decode()
    clip = AudioClip.objects.filter(incident=incident).order_by("distance_m").first()
    local = clip.start_time.astimezone(zone)
    abbreviation = local.strftime("%Z")  # CST or CDT
    assert f"from {local:%H:%M:%S} {abbreviation}" in page
    assert " UTC" not in page
    nearby = page[page.index("Recent nearby incidents") :]
    assert f"{near.first_shot_at.astimezone(zone):%H:%M} {abbreviation}" in nearby
    history = page[page.index('<ul class="history">') :]
    assert re.search(rf"\d\d:\d\d:\d\d {abbreviation}</span>", history)
