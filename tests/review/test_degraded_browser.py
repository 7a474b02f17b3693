"""The review queue in headless Chromium with the server's websocket route gone: it says live
updates are interrupted, polls /live/review/events, still shows a newly queued incident, and
goes back to live (no more polling) once the route returns."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.browser import DaphneServer, current_database_url
from tests.review.test_browser import _css, _queue_incident, _session_browser, _wait, browsers
from tests.screenshots import screenshot_dir

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

__all__ = ["browsers"]  # the fixture, shared with the other review browser tests

SCREENSHOTS = screenshot_dir()
POLLING = "Live updates interrupted – checking every 10 s"


@pytest.fixture
def websockets_off(tmp_path):
    switch = tmp_path / "websockets-off"
    switch.touch()
    return switch


@pytest.fixture
def server(settings, websockets_off):
    env = {
        "DJANGO_SETTINGS_MODULE": "shotspotter.settings_test",
        "DATABASE_URL": current_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "WEBSOCKETS_OFF_FILE": str(websockets_off),
    }
    with DaphneServer(env=env, app="tests.portal.degraded_asgi:application") as running:
        yield running


def _status(driver) -> str:
    return driver.find_element(By.ID, "live-status").text


def test_queue_polls_while_the_websocket_is_gone(
    server, browsers, agency, area, reviewer, websockets_off
):
    driver = browsers(width=1280, height=800)
    _session_browser(driver, server, reviewer)
    _wait(driver, lambda d: _status(d) == POLLING, timeout=25, message="never fell back")
    assert driver.find_element(By.ID, "live-status").get_attribute("role") == "status"

    first = _queue_incident(agency=agency, area=area, rounds=2, clips=0)
    _wait(
        driver,
        # "fresh": marked by the review.queued event itself, not by the 30 s safety re-read.
        _css(f'tr.queue-row.fresh[data-incident="{first.pk}"]'),
        timeout=20,
        message="the polled event did not bring the incident into the queue",
    )
    assert _status(driver) == POLLING
    driver.save_screenshot(str(SCREENSHOTS / "review-queue-degraded.png"))

    websockets_off.unlink()
    _wait(driver, lambda d: _status(d) == "Live", timeout=60, message="never went live again")
    second = _queue_incident(agency=agency, area=area, rounds=3, clips=0)
    _wait(
        driver,
        _css(f'tr.queue-row.fresh[data-incident="{second.pk}"]'),
        timeout=5,
        message="the pushed event did not bring the incident into the queue",
    )
    # Only one page load: everything arrived in place.
    assert driver.execute_script("return performance.getEntriesByType('navigation').length") == 1
