"""Investigation pages in headless Chromium under the strict CSP: the agency's request page
(timeline, results, an audited playback through apps.evidence's player) and the
reviewer's pages (search result with the located missed shot, the audio form, a
playback). Screenshots go to docs/screenshots/ with DOCS_SCREENSHOTS=1."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By

from apps.audit.models import AuditEvent
from apps.evidence.models import PlaybackGrant
from apps.investigations import services
from tests.browser import page_wait
from tests.incidents.support import deploy, ingest, wav_bytes
from tests.investigations.support import file_request, sensor_at, store_pulses
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _completed_request(agency, officer_user, reviewer):
    when = timezone.now() - dt.timedelta(hours=20)
    near, _ = sensor_at(agency, "HC-210N", north=210)
    second, _ = sensor_at(agency, "HC-480E", east=480)
    store_pulses(near, [when + dt.timedelta(seconds=0.62), when + dt.timedelta(seconds=1.1)])
    store_pulses(second, [when + dt.timedelta(seconds=1.41)])
    investigation = file_request(
        officer_user, occurred_at=when, address="", case_number="HC-2026-004711"
    )
    services.investigation_record_view(investigation=investigation, reviewer=reviewer)
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    requests = services.investigation_audio_request(
        investigation_id=investigation.pk,
        reviewer=reviewer,
        sensor_ids=[near.pk, second.pk],
        source_start=when - dt.timedelta(seconds=1),
        duration_s=6.0,
    )
    services.investigation_clip_store(
        sensor=near,
        request_id=requests[0].pk,
        body=wav_bytes(seconds=5.5),
        start_time=requests[0].window_start,
    )
    services.investigation_complete(
        investigation_id=investigation.pk,
        reviewer=reviewer,
        findings=(
            "Two pulses of HC-210N and one of HC-480E match the reported time; too few "
            "sensors to locate. The 5.5 s clip of HC-210N holds two impulsive sounds."
        ),
    )
    return investigation


def _request_in_review(agency, officer_user, reviewer, settings):
    deployment = deploy(
        agency=agency, area=agency.coverage_areas.get(), kind="single_shot", seed=2, lag_s=3600
    )
    weather = deployment.scenario.weather
    settings.PIPELINE_TEMPERATURE_C = weather.temperature_c
    settings.PIPELINE_WIND_SPEED_MS = weather.wind_speed_ms
    settings.PIPELINE_WIND_FROM_DEG = weather.wind_from_deg
    ingest(deployment)
    truth = deployment.truth_shots("gunfire")[0]
    lat, lon, _ = deployment.to_latlon(truth["x"], truth["y"])
    when = dt.datetime.fromtimestamp(truth["t_emit"] + deployment.shift_s, dt.UTC)
    investigation = file_request(
        officer_user,
        occurred_at=when.replace(second=0, microsecond=0),
        tolerance_s=90,
        latitude=lat + 0.0006,
        longitude=lon - 0.0006,
        case_number="HC-2026-004790",
    )
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    investigation.refresh_from_db()
    shot = next(s for s in investigation.search_result["shots"] if s["matches"])
    services.investigation_locate(
        investigation_id=investigation.pk, reviewer=reviewer, shot_index=shot["index"]
    )
    return investigation


def _problems(driver) -> list[str]:
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if (entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"])
        and "favicon.ico" not in entry["message"]
    ]


def test_agency_and_reviewer_pages_in_chromium(
    live_server, agency, officer_user, reviewer, settings
):
    from tests.browser import chromium, session_key, sign_in

    completed = _completed_request(agency, officer_user, reviewer)
    in_review = _request_in_review(agency, officer_user, reviewer, settings)
    to_cancel = file_request(officer_user, case_number="HC-2026-004800")
    out = screenshot_dir()
    out.mkdir(parents=True, exist_ok=True)

    driver = chromium(width=1366, height=1500)
    try:
        sign_in(driver, live_server.url, session_key(officer_user, verified=False))
        driver.get(f"{live_server.url}/investigations/{completed.pk}/")
        steps = [
            e.get_attribute("data-action")
            for e in driver.find_elements(By.CSS_SELECTOR, "#timeline li")
        ]
        assert steps[:6] == [
            "investigation.filed",
            "investigation.viewed",
            "investigation.searched",
            "investigation.audio_requested",
            "investigation.audio_stored",
            "investigation.completed",
        ]
        # The one player of apps.evidence: an audited POST, then the <audio> element
        # fetches the token URL (Range requests) under the strict CSP.
        driver.find_element(By.CSS_SELECTOR, ".evidence-player .play").click()
        state = driver.find_element(By.CSS_SELECTOR, ".evidence-player .play-state")
        page_wait(driver, 10).until(
            lambda d: "playing" in state.text or "cannot" in state.text or "played" in state.text
        )
        assert state.text in ("playing (logged)", "played"), state.text
        played = AuditEvent.objects.get(action="audio.playback")
        clip = completed.clips.get()
        assert played.actor == officer_user and played.target_id == str(clip.pk)
        grant = PlaybackGrant.objects.get()
        assert grant.audit_event == played and grant.fetches >= 1
        assert grant.bytes_served >= clip.size_bytes
        driver.refresh()
        assert "Audio played" in driver.find_element(By.ID, "timeline").text
        assert _problems(driver) == []
        driver.save_screenshot(str(out / "investigation-agency.png"))

        # The filer cancels another request from its page.
        driver.get(f"{live_server.url}/investigations/{to_cancel.pk}/")
        driver.find_element(By.ID, "id_reason").send_keys("Suspect arrested; audio not needed.")
        driver.find_element(By.CSS_SELECTOR, "#cancel button[type=submit]").click()
        page_wait(driver, 10).until(lambda d: not d.find_elements(By.ID, "cancel"))
        assert "Cancelled by the agency" in driver.find_element(By.ID, "results").text
        assert "Suspect arrested" in driver.find_element(By.ID, "timeline").text
        to_cancel.refresh_from_db()
        assert to_cancel.status == "cancelled"
        assert _problems(driver) == []

        driver.delete_all_cookies()
        sign_in(driver, live_server.url, session_key(reviewer, verified=True))
        driver.get(f"{live_server.url}/investigations/review/{in_review.pk}/")
        assert "matches" in driver.find_element(By.ID, "search").text
        audio = driver.find_element(By.ID, "audio").text
        assert "Distances from the located shot" in audio and "(too far)" in audio
        _assert_circle(_map_drawn(driver), in_review)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#inv-map path.inv-located")) == 1
        assert _problems(driver) == []
        driver.save_screenshot(str(out / "investigation-review.png"))

        # The reviewer plays the same clip from the review page: a second, own playback.
        driver.get(f"{live_server.url}/investigations/review/{completed.pk}/")
        driver.find_element(By.CSS_SELECTOR, ".evidence-player .play").click()
        state = driver.find_element(By.CSS_SELECTOR, ".evidence-player .play-state")
        page_wait(driver, 10).until(
            lambda d: "playing" in state.text or "cannot" in state.text or "played" in state.text
        )
        assert state.text in ("playing (logged)", "played"), state.text
        assert AuditEvent.objects.filter(action="audio.playback", actor=reviewer).count() == 1
        driver.get(f"{live_server.url}/investigations/review/{to_cancel.pk}/")
        facts = driver.find_element(By.CSS_SELECTOR, ".inv-facts").text
        assert "by the agency" in facts and "Suspect arrested" in facts
        assert not driver.find_elements(By.ID, "close")  # nothing left to answer
        assert PlaybackGrant.objects.count() == 2
        assert _problems(driver) == []
    finally:
        driver.quit()


# The map's circle as Leaflet holds it and as the page draws it (window.investigationMap).
CIRCLE = """
var m = window.investigationMap, c = m.circle, b = c.getBounds();
var box = document.querySelector('#inv-map path.inv-radius').getBoundingClientRect();
var map = document.getElementById('inv-map').getBoundingClientRect();
return {lat: c.getLatLng().lat, lon: c.getLatLng().lng, radius: c.getRadius(),
        width_m: m.map.distance(b.getSouthWest(), b.getSouthEast()),
        height_m: m.map.distance(b.getSouthWest(), b.getNorthWest()),
        box: [box.left, box.top, box.right, box.bottom],
        map: [map.left, map.top, map.right, map.bottom]};
"""


def _map_drawn(driver) -> dict:
    page_wait(driver, 10).until(
        lambda d: d.find_element(By.ID, "inv-map").get_attribute("data-ready") == "1"
    )
    return driver.execute_script(CIRCLE)


def _assert_circle(circle: dict, investigation) -> None:
    assert circle["lat"] == pytest.approx(investigation.latitude, abs=1e-9)
    assert circle["lon"] == pytest.approx(investigation.longitude, abs=1e-9)
    assert circle["radius"] == investigation.radius_m
    # The drawn circle is the radius on the ground (2 r across, within Leaflet's rounding)...
    assert circle["width_m"] == pytest.approx(2 * investigation.radius_m, rel=0.02)
    assert circle["height_m"] == pytest.approx(2 * investigation.radius_m, rel=0.02)
    # ...round on the screen, large enough to read, and inside the map.
    left, top, right, bottom = circle["box"]
    assert right - left == pytest.approx(bottom - top, abs=3) and right - left > 80
    m_left, m_top, m_right, m_bottom = circle["map"]
    assert m_left <= left and right <= m_right and m_top <= top and bottom <= m_bottom


def _requests_made(driver) -> list[str]:
    return driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
    )


def test_request_pages_map_the_place_radius_and_the_reviewers_sensors(
    live_server, agency, other_agency, officer_user, reviewer
):
    from apps.investigations.selectors import sensors_in_radius
    from apps.sensors.models import SensorStatus
    from tests.browser import chromium, session_key, sign_in

    inside = [sensor_at(agency, "HC-120N", north=120)[0], sensor_at(agency, "HC-250E", east=250)[0]]
    sensor_at(agency, "HC-420S", north=-420)  # outside the radius
    disabled, _ = sensor_at(agency, "HC-090W", east=-90)
    disabled.status = SensorStatus.DISABLED
    disabled.save(update_fields=["status"])
    sensor_at(other_agency, "OT-060N", north=60)  # inside, but another agency's
    investigation = file_request(
        officer_user, radius_m=300.0, address="700 block of SW Adams St", case_number="HC-77"
    )
    assert [s.sensor for s in sensors_in_radius(investigation=investigation)] == inside
    out = screenshot_dir()
    out.mkdir(parents=True, exist_ok=True)

    driver = chromium(width=1366, height=900)
    try:
        sign_in(driver, live_server.url, session_key(reviewer, verified=True))
        driver.get(f"{live_server.url}/investigations/review/{investigation.pk}/")
        _assert_circle(_map_drawn(driver), investigation)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#inv-map path.inv-place")) == 1
        assert len(driver.find_elements(By.CSS_SELECTOR, "#inv-map path.inv-sensor")) == 2
        labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".inv-map-label")]
        assert sorted(labels) == ["HC-120N · 120 m", "HC-250E · 250 m"]
        legend = driver.find_element(By.ID, "inv-map-legend").text
        assert "search radius 300 m" in legend
        assert "2 active sensors of Harbor City Police Department inside the radius" in legend
        # Vector layers only: no tile was asked for, from here or anywhere else.
        assert not driver.find_elements(By.CSS_SELECTOR, "#inv-map .leaflet-tile")
        assert "no-tiles" in driver.find_element(By.ID, "inv-map").get_attribute("class")
        assert all(url.startswith(live_server.url) for url in _requests_made(driver))
        assert _problems(driver) == []
        driver.save_screenshot(str(out / "investigation-map-review.png"))

        # The agency's page: the same place and radius, no sensor positions.
        driver.delete_all_cookies()
        sign_in(driver, live_server.url, session_key(officer_user, verified=False))
        driver.get(f"{live_server.url}/investigations/{investigation.pk}/")
        _assert_circle(_map_drawn(driver), investigation)
        assert not driver.find_elements(By.CSS_SELECTOR, "#inv-map path.inv-sensor")
        assert "HC-120N" not in driver.page_source
        legend = driver.find_element(By.ID, "inv-map-legend").text
        assert "search radius 300 m" in legend and "sensor" not in legend
        assert not driver.find_elements(By.CSS_SELECTOR, "#inv-map .leaflet-tile")
        assert all(url.startswith(live_server.url) for url in _requests_made(driver))
        assert _problems(driver) == []
        driver.save_screenshot(str(out / "investigation-map-agency.png"))
    finally:
        driver.quit()
