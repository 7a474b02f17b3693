"""The review center in headless Chromium against a real ASGI server (daphne).

A reviewer logs in through the real log-in page with a TOTP code, sees an incident
arrive in the queue without reloading, claims it, plays a sensor clip (audited), decides
with the keyboard, and the incident leaves a second reviewer's open queue too.

Needs PostgreSQL (daphne runs in its own process against the test database) and Redis
(the channel layer that carries pushes between the test process and daphne).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.incidents.models import AudioClip, IncidentStatus
from apps.review import services
from apps.review.models import ReviewDecision
from tests.browser import (
    DaphneServer,
    chromium,
    current_database_url,
    page_wait,
    session_key,
    sign_in,
)
from tests.factories import DEFAULT_PASSWORD, add_totp_device, totp_code
from tests.review.browser_support import make_incident
from tests.screenshots import screenshot_dir

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


def _needs_chromium():
    if not (shutil.which("chromium") or os.path.exists("/usr/bin/chromium")):
        pytest.skip("headless Chromium (/usr/bin/chromium) is not installed")


@pytest.fixture
def server(settings):
    _needs_chromium()
    env = {
        # The settings this test run uses (pytest-django exports them).
        "DJANGO_SETTINGS_MODULE": os.environ.get(
            "DJANGO_SETTINGS_MODULE", "shotspotter.settings_test"
        ),
        "DATABASE_URL": current_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "REDIS_URL": settings.REDIS_URL,
        "CHANNELS_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "DEBUG": "0",
    }
    with DaphneServer(env=env) as running:
        yield running


@pytest.fixture
def browsers():
    opened = []

    def open_browser(**kwargs):
        driver = chromium(**kwargs)
        driver.set_page_load_timeout(20)
        opened.append(driver)
        return driver

    yield open_browser
    for driver in opened:
        driver.quit()


def _wait(driver, condition, timeout=10.0, message=""):
    return page_wait(driver, timeout, poll_frequency=0.1).until(condition, message)


def _css(selector):
    from selenium.webdriver.common.by import By

    return lambda d: d.find_elements(By.CSS_SELECTOR, selector)


def _click(driver, selector):
    """Click an element of the live queue, whose rows the page may re-render meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def attempt(d):
        try:
            d.find_element(By.CSS_SELECTOR, selector).click()
            return True
        except StaleElementReferenceException:
            return False

    _wait(driver, attempt, message=f"could not click {selector}")


def _login_with_totp(driver, server, user, device):
    from selenium.webdriver.common.by import By

    driver.get(server.url + "/review/")
    assert "/accounts/login/" in driver.current_url
    driver.find_element(By.NAME, "email").send_keys(user.email)
    driver.find_element(By.NAME, "password").send_keys(DEFAULT_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait(driver, lambda d: "/accounts/two-factor/" in d.current_url, message="no code page")
    code = driver.find_element(By.NAME, "code")
    code.send_keys(totp_code(device))
    code.find_element(By.XPATH, "./ancestor::form//button[@type='submit']").click()
    try:
        _wait(driver, lambda d: d.current_url.endswith("/review/"))
    except Exception:
        text = driver.find_element(By.TAG_NAME, "body").text[:500]
        raise AssertionError(f"not back at the queue: {driver.current_url} {text}") from None


def _session_browser(driver, server, user):
    sign_in(driver, server.url, session_key(user))
    driver.get(server.url + "/review/")


def _live(driver):
    from selenium.webdriver.common.by import By

    _wait(
        driver,
        lambda d: d.find_element(By.ID, "live-status").text == "Live",
        message="the queue never connected to the review stream",
    )


def _queue_incident(**kwargs):
    """What the pipeline does when an incident enters review: rows, then review.queued."""
    with transaction.atomic():
        incident = make_incident(**kwargs)
        services.on_incident_changed(incident_id=incident.pk, kind="entered_review")
    return incident


def test_reviewer_sees_claims_plays_and_decides_live(
    server, browsers, agency, area, reviewer, other_reviewer
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    started = time.monotonic()
    device = add_totp_device(reviewer)
    first = browsers()
    _login_with_totp(first, server, reviewer, device)
    _live(first)
    assert "Nothing is waiting for review." in first.page_source
    second = browsers(width=1024, height=768)
    _session_browser(second, server, other_reviewer)
    _live(second)

    # An incident arrives while both queues are open: it appears without a reload.
    incident = _queue_incident(agency=agency, area=area, rounds=3, clips=3)
    row = f'tr.queue-row[data-incident="{incident.pk}"]'
    for driver in (first, second):
        _wait(driver, _css(row), message="the incident never appeared in the queue")
    first_page = first.execute_script("return performance.getEntriesByType('navigation').length")
    assert first_page == 1  # still the same page: no reload happened

    # The first reviewer claims it; the second sees who holds it.
    _click(first, f"{row} button[type=submit]")
    _wait(first, lambda d: f"/review/incident/{incident.pk}/" in d.current_url)
    _wait(
        second,
        lambda d: "Rita Reviewer" in d.find_element(By.CSS_SELECTOR, row).text,
        message="the claim was not pushed to the other reviewer",
    )

    # Play the nearest sensor's clip: the audio element advances, one audit event.
    nearest = AudioClip.objects.filter(incident=incident).order_by("distance_m").first()
    player = f'.player[data-clip="{nearest.pk}"]'
    first.find_element(By.CSS_SELECTOR, f"{player} button.play").click()
    _wait(
        first,
        lambda d: d.execute_script(
            "var a = document.querySelector(arguments[0] + ' audio');"
            "return a && (a.ended || a.currentTime > 0.3);",
            player,
        ),
        message="the clip did not play: "
        + first.find_element(By.CSS_SELECTOR, f"{player} .play-state").text
        + str(first.get_log("browser")),
    )
    assert (
        AuditEvent.objects.filter(
            action="audio.playback", actor=reviewer, target_id=str(nearest.pk)
        ).count()
        == 1
    )

    # Decide with the keyboard: 2 = multiple gunshots, P = publish.
    body = first.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ESCAPE)
    body.send_keys("2")
    _wait(first, lambda d: "press P to publish" in d.find_element(By.ID, "decision-summary").text)
    body.send_keys("p")
    _wait(first, lambda d: d.current_url.endswith("/review/"), message="decision not posted")
    decision = ReviewDecision.objects.get(incident=incident)
    assert (decision.decision, decision.rounds, decision.decided_by) == (
        "multiple_gunshots",
        3,
        reviewer,
    )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PUBLISHED

    # It left every reviewer's queue: the second one's open page without a reload.
    _wait(
        second,
        lambda d: not d.find_elements(By.CSS_SELECTOR, row),
        message="the decided incident stayed in the other reviewer's queue",
    )
    assert not first.find_elements(By.CSS_SELECTOR, row)
    assert second.execute_script("return performance.getEntriesByType('navigation').length") == 1
    assert time.monotonic() - started < 60


def test_not_gunfire_by_keyboard_needs_a_reason_and_escape_cancels(
    server, browsers, agency, area, reviewer
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    incident = _queue_incident(agency=agency, area=area, rounds=2, clips=1)
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    driver = browsers(width=1024, height=768)
    _session_browser(driver, server, reviewer)
    driver.get(f"{server.url}/review/incident/{incident.pk}/")
    body = driver.find_element(By.TAG_NAME, "body")
    summary = lambda d: d.find_element(By.ID, "decision-summary").text  # noqa: E731

    body.send_keys("0")
    _wait(driver, lambda d: "what was it?" in summary(d))
    assert driver.find_element(By.ID, "reasons").is_displayed()
    body.send_keys("p")  # no reason yet: nothing is posted
    time.sleep(0.3)
    assert f"/review/incident/{incident.pk}/" in driver.current_url
    body.send_keys(Keys.ESCAPE)  # the choice is cleared
    _wait(driver, lambda d: "Choose a type" in summary(d))
    assert not driver.find_element(By.ID, "reasons").is_displayed()
    assert not driver.find_elements(By.CSS_SELECTOR, "input[name=decision]:checked")

    body.send_keys("0")
    body.send_keys("k")
    _wait(driver, lambda d: "Not gunfire (Firecracker)" in summary(d))
    body.send_keys("p")
    _wait(driver, lambda d: d.current_url.endswith("/review/"))
    decision = ReviewDecision.objects.get(incident=incident)
    assert (decision.decision, decision.not_gunfire_reason) == ("not_gunfire", "firecracker")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.DISMISSED
    assert "Not gunfire, dismissed." in driver.page_source


def test_queue_reconnects_and_catches_up_after_the_server_restarts(
    server, browsers, agency, area, reviewer
):
    from selenium.webdriver.common.by import By

    driver = browsers()
    _session_browser(driver, server, reviewer)
    _live(driver)
    server.stop()
    # Either state says the page noticed: it reconnects with backoff, and after repeated
    # failures (counted since the last link that held 10 s) it also falls back to polling.
    _wait(
        driver,
        lambda d: (
            d.find_element(By.ID, "live-status").text
            in ("Reconnecting…", "Live updates interrupted – checking every 10 s")
        ),
        message="the page did not notice the lost connection",
    )
    # Queued while no server pushes anything: only the stored event can bring it.
    incident = _queue_incident(agency=agency, area=area, rounds=2, clips=0)
    server.start()
    _wait(
        driver,
        lambda d: d.find_element(By.ID, "live-status").text == "Live",
        timeout=40,
        message="the page did not reconnect (backoff)",
    )
    _wait(
        driver,
        _css(f'tr.queue-row[data-incident="{incident.pk}"]'),
        message="the queue did not catch up after reconnecting",
    )
    assert driver.execute_script("return performance.getEntriesByType('navigation').length") == 1


def test_screenshots_of_the_queue_and_the_review_screen(
    server, browsers, agency, area, reviewer, other_reviewer, tmp_path
):
    """Writes docs/screenshots/review-*.png when DOCS_SCREENSHOTS=1 (else to a temp dir)."""
    from selenium.webdriver.common.by import By

    out = screenshot_dir()
    out.mkdir(parents=True, exist_ok=True)
    agency.name = "Peoria Police Department"
    agency.save(update_fields=["name"])
    reviewer.email = "rita.reviewer@irc.example"
    reviewer.save(update_fields=["email"])
    older = make_incident(
        agency=agency,
        area=area,
        rounds=1,
        clips=2,
        detected_ago_s=72,
        address="400 SW Adams St",
        source=(40.6905, -89.5935),
        probabilities={
            "gunfire": 0.55,
            "firework": 0.3,
            "backfire": 0.1,
            "construction": 0.03,
            "other": 0.02,
        },
    )
    make_incident(
        agency=agency,
        area=area,
        rounds=1,
        clips=2,
        detected_ago_s=48,
        address="2100 N Knoxville Ave",
        source=(40.7101, -89.5802),
    )
    main = make_incident(
        agency=agency,
        area=area,
        rounds=4,
        gap_s=0.31,
        clips=4,
        detected_ago_s=21,
        address="1300 W Main St",
    )
    make_incident(
        agency=agency,
        area=area,
        rounds=1,
        clips=0,
        detected_ago_s=86400,
        status=IncidentStatus.PUBLISHED,
        source=(main.latitude + 0.002, main.longitude - 0.003),
    )
    services.claim(reviewer=other_reviewer, incident_id=older.pk)
    driver = browsers(width=1366, height=768)
    _session_browser(driver, server, reviewer)
    _live(driver)
    driver.save_screenshot(str(out / "review-queue.png"))
    _click(driver, f'tr[data-incident="{main.pk}"] button')
    _wait(driver, _css("#map .leaflet-interactive"))
    driver.find_element(By.TAG_NAME, "body").send_keys("2")
    time.sleep(0.3)
    driver.save_screenshot(str(out / "review-screen.png"))
    driver.set_window_size(1024, 768)
    time.sleep(0.3)
    driver.save_screenshot(str(out / "review-screen-1024.png"))
    # The filtered list and the metrics, with a few decisions behind them.
    make_incident(
        agency=agency,
        area=area,
        rounds=6,
        clips=0,
        detected_ago_s=300,
        status=IncidentStatus.FILTERED,
        address="900 NE Adams St",
        probabilities={
            "gunfire": 0.04,
            "firework": 0.05,
            "backfire": 0.03,
            "construction": 0.85,
            "other": 0.03,
        },
    )
    for label, reason in (("single_gunshot", None), ("not_gunfire", "firework")):
        decided = make_incident(agency=agency, area=area, rounds=1, clips=0, detected_ago_s=40)
        services.claim(reviewer=other_reviewer, incident_id=decided.pk)
        services.decide(
            reviewer=other_reviewer,
            incident_id=decided.pk,
            decision=label,
            rounds=1,
            not_gunfire_reason=reason,
        )
    driver.set_window_size(1366, 768)
    driver.get(server.url + "/review/filtered/")
    driver.save_screenshot(str(out / "review-filtered.png"))
    driver.get(server.url + "/review/metrics/")
    driver.save_screenshot(str(out / "review-metrics.png"))
    for name in ("review-queue.png", "review-screen.png"):
        assert (out / name).stat().st_size > 10_000


def test_review_screen_fits_audio_map_and_sensor_table_at_1280x900(
    server, browsers, agency, area, reviewer
):
    """20 sensors with long serials: the table sits under audio and map, one line per row,
    and starts on the first screen (it used to wrap serials over four lines in the map column)."""
    import math

    from selenium.webdriver.common.by import By

    layout = [
        ((300.0 + 45.0 * k) * math.cos(k * 0.9), (300.0 + 45.0 * k) * math.sin(k * 0.9))
        for k in range(20)
    ]
    incident = make_incident(
        agency=agency, area=area, layout=layout, clips=4, serial_prefix="SIM-CHI-SCP-00-BNG-40"
    )
    driver = browsers(width=1280, height=900, exact_viewport=True)
    _session_browser(driver, server, reviewer)
    driver.get(f"{server.url}/review/incident/{incident.pk}/")
    _wait(driver, _css(".player"), message="no players")
    cells = driver.find_elements(By.CSS_SELECTOR, "table.sensors td.serial")
    assert len(cells) == 20
    line = float(
        driver.execute_script(
            "return parseFloat(getComputedStyle(arguments[0]).fontSize) * 3", cells[0]
        )
    )
    driver.save_screenshot(str(screenshot_dir() / "review_incident_1280x900.png"))
    # One line plus the cell padding (a wrapped serial makes the row two lines or more).
    assert max(c.size["height"] for c in cells) < line
    viewport = 900
    for selector in (".player", "#map", "table.sensors"):
        top = driver.find_element(By.CSS_SELECTOR, selector).rect["y"]
        assert top < viewport - 60, f"{selector} starts below the first screen ({top} px)"
    # Only the nearest sensor with audio keeps a permanent label on the map.
    assert len(driver.find_elements(By.CSS_SELECTOR, "#map .map-label")) <= 1
