"""Portal pages: permissions on every URL, secure links, opening, search, audio audit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Application
from apps.audit.models import AuditEvent
from apps.portal.models import IncidentOpen
from apps.realtime.models import RealtimeEvent
from tests.factories import DEFAULT_PASSWORD, AgencyFactory, UserFactory
from tests.portal.support import (
    add_clip,
    comment,
    geography,
    pending_incident,
    published_incident,
    wav_bytes,
)

pytestmark = pytest.mark.django_db

ALL = [Application.ALERT_CONSOLE, Application.INVESTIGATOR_PORTAL, Application.SIREN]


@pytest.fixture
def agency():
    return AgencyFactory()


@pytest.fixture
def incident(agency):
    return published_incident(agency)


def _pages(incident):
    sid, n = incident.agency.system_id, incident.number
    return [
        ("/console/", Application.ALERT_CONSOLE),
        (f"/console/incident/{sid}/{n}", Application.ALERT_CONSOLE),
        ("/investigator/", Application.INVESTIGATOR_PORTAL),
        (f"/investigator/incident/{sid}/{n}", Application.INVESTIGATOR_PORTAL),
        ("/siren/", Application.SIREN),
        (f"/incident/{sid}/{n}", Application.SIREN),
    ]


def test_logged_out_visitors_are_sent_to_log_in_on_every_page(client, incident):
    for url, _ in _pages(incident):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_each_page_needs_its_own_application_grant(client, agency, incident):
    for url, application in _pages(incident):
        others = [a for a in ALL if a != application]
        client.force_login(UserFactory(agency=agency, applications=others))
        response = client.get(url)
        assert response.status_code == 403, url
        assert Application(application).label in response.content.decode()
        client.force_login(UserFactory(agency=agency, applications=[application]))
        assert client.get(url).status_code == 200, url


def test_review_staff_never_reach_agency_pages(client, incident):
    client.force_login(UserFactory(irc_reviewer=True))
    for url, _ in _pages(incident):
        assert client.get(url).status_code in (302, 403), url


def test_incident_of_another_agency_is_not_found(client, incident):
    stranger = UserFactory(agency=AgencyFactory(), applications=ALL)
    client.force_login(stranger)
    for url, _ in _pages(incident):
        if "/incident/" in url:
            assert client.get(url).status_code == 404, url
    # and their own lists do not show it
    assert incident.reference not in client.get("/console/").content.decode()


def test_unpublished_incidents_are_not_shown(client, agency):
    pending = pending_incident(agency)
    client.force_login(UserFactory(agency=agency, applications=ALL))
    assert client.get(f"/incident/{agency.system_id}/{pending.number}").status_code == 404
    assert pending.reference not in client.get("/console/").content.decode()


def test_secure_link_asks_for_log_in_then_lands_on_the_incident(client, agency, incident):
    officer = UserFactory(agency=agency, applications=[Application.SIREN])
    link = f"/incident/{agency.system_id}/{incident.number}"
    assert incident.get_absolute_url() == link
    login_url = client.get(link)["Location"]
    response = client.post(
        login_url, {"email": officer.email, "password": DEFAULT_PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == link
    assert f"Incident {incident.reference}" in response.content.decode()


def test_details_show_the_incident_and_copy_link(client, agency):
    _, district, beat = geography(agency)
    incident = published_incident(agency, beat=beat, district=district, rounds=4)
    comment(incident, "Possibly behind the school building")
    client.force_login(UserFactory(agency=agency, applications=ALL))
    page = client.get(f"/console/incident/{agency.system_id}/{incident.number}").content.decode()
    for text in (
        "Central",
        "Multiple gunshots",
        "1200 block of W Main St",
        "Beat 11",
        "District 1",
        "Possibly behind the school building",
        f"http://testserver/incident/{agency.system_id}/{incident.number}",
        "Copy secure link",
        "View on Siren",
    ):
        assert text in page, text


def test_beat_and_district_are_left_out_when_unknown(client, agency, incident):
    client.force_login(UserFactory(agency=agency, applications=ALL))
    page = client.get(f"/incident/{agency.system_id}/{incident.number}").content.decode()
    assert "fact-beat" not in page and "fact-district" not in page


def test_opening_an_incident_is_broadcast_once_per_user(client, agency, incident):
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    client.force_login(officer)
    url = f"/console/incident/{agency.system_id}/{incident.number}"
    client.get(url)
    client.get(url)
    client.get(url + "?fragment=details")
    opened = RealtimeEvent.objects.filter(kind="incident.opened", incident_id=incident.pk)
    assert opened.count() == 1
    assert opened.get().payload["user_id"] == officer.pk
    assert IncidentOpen.objects.filter(incident=incident, user=officer).count() == 1
    # A fragment refresh alone never counts as opening.
    other = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    client.force_login(other)
    client.get(url + "?fragment=details")
    assert opened.count() == 1


def test_list_view_rows_and_fragment(client, agency, incident):
    client.force_login(UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE]))
    page = client.get("/console/").content.decode()
    assert incident.reference in page and "List view" in page
    fragment = client.get("/console/?fragment=list").content.decode()
    assert "<tr" in fragment and "<html" not in fragment


def test_console_profile_by_query_parameter_is_remembered(client, agency):
    client.force_login(UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE]))
    assert "profile-mobile" in client.get("/console/?profile=mobile").content.decode()
    assert "profile-mobile" in client.get("/console/").content.decode()
    assert "profile-call_taker" in client.get("/console/?profile=call_taker").content.decode()


def test_nearby_panel_lists_what_the_map_shows(client, agency):
    here = published_incident(agency)
    near = published_incident(agency, lat=here.latitude + 0.004)  # ~445 m north
    published_incident(agency, lat=here.latitude + 0.02)  # ~2.2 km: not nearby
    old = published_incident(
        agency, lat=here.latitude - 0.001, when=timezone.now() - dt.timedelta(days=45)
    )
    client.force_login(UserFactory(agency=agency, applications=[Application.SIREN]))
    response = client.get(f"/incident/{agency.system_id}/{here.number}")
    panel = [row["incident"].pk for row in response.context["nearby"]]
    on_map = [m["id"] for m in response.context["map_data"]["incidents"]]
    assert panel == on_map == [near.pk]
    assert old.pk not in panel
    assert 440 < response.context["nearby"][0]["distance_m"] < 450


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "single"}, ["single"]),
        ({"kind": "possible"}, ["possible"]),
        ({"address": "oak"}, ["possible"]),
        ({"date_from": "2001-01-01", "date_to": "2001-01-31"}, ["old"]),
    ],
)
def test_investigator_search(client, agency, params, expected):
    _, district, beat = geography(agency)
    made = {
        "single": published_incident(agency, decision="single_gunshot", rounds=1),
        "possible": published_incident(
            agency, decision="possible_gunfire", address="400 Oak Ave", beat=beat
        ),
        "old": published_incident(
            agency, when=dt.datetime(2001, 1, 15, 12, tzinfo=dt.UTC), district=district
        ),
    }
    client.force_login(UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL]))
    response = client.get("/investigator/", params)
    assert response.status_code == 200
    found = [row["incident"].pk for row in response.context["rows"]]
    assert found == [made[name].pk for name in expected]
    assert [m["id"] for m in response.context["map_data"]["incidents"]] == found


def test_investigator_search_by_beat_and_district(client, agency):
    _, district, beat = geography(agency)
    in_beat = published_incident(agency, beat=beat, district=district)
    published_incident(agency)
    client.force_login(UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL]))
    for params in ({"beat": beat.pk}, {"district": district.pk}):
        rows = client.get("/investigator/", params).context["rows"]
        assert [row["incident"].pk for row in rows] == [in_beat.pk]


def test_investigator_search_rejects_bad_input_clearly(client, agency):
    client.force_login(UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL]))
    response = client.get("/investigator/", {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert response.status_code == 400
    assert "The start date is after the end date." in response.content.decode()
    response = client.get("/investigator/", {"date_from": "yesterday", "kind": "bazooka"})
    assert response.status_code == 400
    assert "Enter a valid date." in response.content.decode()
    other_beat = geography(AgencyFactory())[2]
    response = client.get("/investigator/", {"beat": other_beat.pk})
    assert response.status_code == 400
    # A date whose next day does not exist was an OverflowError (500).
    for dates in ({"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}):
        response = client.get("/investigator/", dates)
        assert response.status_code == 400
        assert "Choose a date from 1900-01-01 to 9998-12-31." in response.content.decode()


def test_investigator_result_line_never_claims_there_are_no_incidents(client, agency):
    """A bad search or one matching nothing said "No published incidents." under "Most
    recent incidents", although the agency has published incidents."""
    published_incident(agency, address="100 Main St")
    client.force_login(UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL]))
    bad = client.get("/investigator/", {"kind": "bazooka"}).content.decode()
    assert "Nothing searched: correct the search above." in bad
    assert "No published incidents." not in bad and "Most recent incidents" not in bad
    none = client.get("/investigator/", {"address": "nowhere lane"}).content.decode()
    assert "0 incidents found" in none and "No incident matches this search." in none
    assert "No published incidents." not in none


# --- Audio ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_audio_clips_listed_with_each_sensor_distance(client, agency, incident):
    far = add_clip(incident, distance_m=640.4, serial="S-far")
    near = add_clip(incident, distance_m=98.6, serial="S-near")
    client.force_login(UserFactory(agency=agency, applications=[Application.SIREN]))
    response = client.get(f"/incident/{agency.system_id}/{incident.number}")
    assert [c.pk for c in response.context["clips"]] == [near.pk, far.pk]
    page = response.content.decode()
    assert "99 m" in page and "640 m" in page
    assert "farthest: 640 m" in page and "Nearest sensor: 99 m" in page


def test_audio_playback_is_audited_once_per_press_of_play(client, agency, incident):
    clip = add_clip(incident)
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    client.force_login(officer)
    page = client.get(f"/console/incident/{agency.system_id}/{incident.number}").content.decode()
    play = reverse("evidence:clip_playback", args=[clip.pk])
    assert f'data-play-url="{play}"' in page and "<audio controls" not in page
    assert "js/evidence/playback" in page
    response = client.post(play)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    url = response.json()["url"]
    first = client.get(url, HTTP_RANGE="bytes=0-")
    assert first.status_code == 206 and first.content == wav_bytes()
    assert first["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="audio.playback")
    assert event.actor == officer and event.agency == agency
    assert event.details["incident"] == incident.reference and event.details["clip_id"] == clip.pk
    # Later range requests of the same playback are not logged again.
    assert client.get(url, HTTP_RANGE="bytes=1000-").content == wav_bytes()[1000:]
    assert AuditEvent.objects.filter(action="audio.playback").count() == 1


def test_audio_permissions(client, agency, incident):
    clip = add_clip(incident)
    url = reverse("evidence:clip_playback", args=[clip.pk])
    assert client.post(url).status_code == 302  # logged out
    client.force_login(UserFactory(agency=agency, applications=[Application.BRIEFING_ROOM]))
    assert client.post(url).status_code == 404
    client.force_login(UserFactory(agency=AgencyFactory(), applications=ALL))
    assert client.post(url).status_code == 404
    assert not AuditEvent.objects.filter(action="audio.playback").exists()


def test_audio_of_unpublished_incident_is_not_served(client, agency):
    clip = add_clip(pending_incident(agency))
    client.force_login(UserFactory(agency=agency, applications=ALL))
    assert client.post(reverse("evidence:clip_playback", args=[clip.pk])).status_code == 404


def test_console_raises_toasters_for_recent_alerts_nobody_opened(client, agency):
    fresh = published_incident(agency)
    opened = published_incident(agency)
    stale = published_incident(agency)
    stale.published_at = timezone.now() - dt.timedelta(minutes=31)
    stale.save(update_fields=["published_at"])
    IncidentOpen.objects.create(incident=opened, user=UserFactory(agency=agency))
    client.force_login(UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE]))
    response = client.get("/console/")
    pending = response.context["pending_alerts"]
    assert [alert["payload"]["incident_id"] for alert in pending] == [fresh.pk]
    assert pending[0]["payload"]["url"] == fresh.get_absolute_url()
    assert 'id="pending-alerts"' in response.content.decode()
    # Siren and the Investigator Portal have no toasters.
    client.force_login(UserFactory(agency=agency, applications=[Application.SIREN]))
    assert 'id="pending-alerts"' not in client.get("/siren/").content.decode()


def test_favicon_is_linked_from_every_page_and_served_at_favicon_ico(client, agency):
    """Browsers stop logging a 404 for /favicon.ico: pages link the SVG icon, and the
    old address redirects there for browsers and tools that ask for it anyway."""
    icon_url = static("favicon.svg")
    assert finders.find("favicon.svg")
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == icon_url
    assert client.head("/favicon.ico").status_code == 302
    officer = UserFactory(agency=agency, applications=ALL)
    client.force_login(officer)
    for path in ("/", reverse("accounts:my_account"), reverse("portal:console")):
        page = client.get(path).content.decode()
        assert f'<link rel="icon" href="{icon_url}" type="image/svg+xml">' in page, path
