"""Headless Chromium against daphne whose websocket route is gone: the Alert Console says
live updates are degraded, polls, and still shows a published incident as a toaster; when
the route is back it drops the banner and stops polling.

The incidents are published by this test process through the review center's real
services; with no websocket they can only reach the page through the polling endpoint.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from apps.accounts.models import Application
from tests.browser import DaphneServer, chromium, current_database_url, page_wait
from tests.factories import AgencyFactory, UserFactory
from tests.portal.support import geography, published_incident
from tests.portal.test_browser import log_in, toaster
from tests.screenshots import screenshot_dir

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SCREENSHOTS = screenshot_dir()
CONSOLE = [Application.ALERT_CONSOLE, Application.INVESTIGATOR_PORTAL, Application.SIREN]


@pytest.fixture
def websockets_off(tmp_path):
    switch = tmp_path / "websockets-off"
    switch.touch()
    return switch


@pytest.fixture
def server(django_db_setup, tmp_path_factory, websockets_off):
    env = {
        "DJANGO_SETTINGS_MODULE": "shotspotter.settings_test",
        "DATABASE_URL": current_database_url(),
        "MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
        "WEBSOCKETS_OFF_FILE": str(websockets_off),
    }
    with DaphneServer(env=env, app="tests.portal.degraded_asgi:application") as daphne:
        yield daphne


@pytest.fixture
def driver():
    browser = chromium(width=1024, height=768, exact_viewport=True)
    yield browser
    browser.quit()


def portal(driver, name: str) -> str:
    return driver.find_element(By.ID, "portal").get_attribute(f"data-{name}") or ""


def banner(driver):
    return driver.find_element(By.ID, "live-degraded")


def test_console_polls_while_the_websocket_is_gone_and_stops_when_it_is_back(
    server, driver, websockets_off
):
    agency = AgencyFactory()
    _, district, beat = geography(agency)
    officer = UserFactory(agency=agency, full_name="Dana Dispatch", applications=CONSOLE)
    log_in(driver, server, officer)
    driver.get(server.url + "/console/")

    # Refused handshakes: after a few attempts the page says so and starts polling.
    page_wait(driver, 25, poll_frequency=0.2).until(lambda d: portal(d, "polling") == "1")
    assert portal(driver, "connected") != "1"
    assert banner(driver).is_displayed()
    assert banner(driver).text == "Live updates interrupted – checking every 10 s."
    assert banner(driver).get_attribute("role") == "alert"
    # One notice at a time: the reconnect countdown is hidden behind the banner.
    assert not driver.find_element(By.ID, "connection").is_displayed()
    driver.save_screenshot(str(SCREENSHOTS / "portal-degraded-banner.png"))

    incident = published_incident(agency, beat=beat, district=district, rounds=5)
    published = time.monotonic()
    # Within one polling period (10 s) plus the time a loaded machine needs.
    page_wait(driver, 20, poll_frequency=0.2).until(lambda d: toaster(d) is not None)
    delay = time.monotonic() - published
    text = toaster(driver).text
    assert incident.reference in text
    for expected in ("Multiple gunshots", "1200 block of W Main St", "Beat 11", "View Incident"):
        assert expected in text, expected
    # The list updated through the same handler.
    page_wait(driver, 5).until(
        lambda d: incident.reference in d.find_element(By.ID, "incident-rows").text
    )
    assert portal(driver, "connected") != "1" and banner(driver).is_displayed()
    assert int(portal(driver, "polls")) >= 1
    driver.save_screenshot(str(SCREENSHOTS / "portal-degraded-toaster.png"))

    # The route comes back: the next reconnect opens it (backoff up to 30 s +25 %, and a
    # loaded machine adds to that).
    websockets_off.unlink()
    page_wait(driver, 60, poll_frequency=0.2).until(lambda d: portal(d, "connected") == "1")
    assert portal(driver, "polling") == "0"
    assert not banner(driver).is_displayed()
    polls = int(portal(driver, "polls"))

    # Live again: the next incident arrives by websocket at once, and polling stays off.
    second = published_incident(agency, beat=beat, district=district, address="77 S Oak Ave")
    page_wait(driver, 3, poll_frequency=0.05).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#toasters .toaster")) == 2
    )
    assert "77 S Oak Ave" in driver.find_elements(By.CSS_SELECTOR, "#toasters .toaster")[-1].text
    time.sleep(11)  # longer than a polling period
    assert int(portal(driver, "polls")) == polls
    assert portal(driver, "connected") == "1"  # an idle socket stays up
    assert second.reference in driver.find_element(By.ID, "incident-rows").text
    driver.save_screenshot(str(SCREENSHOTS / "portal-degraded-recovered.png"))
    print(f"toaster by polling {delay:.1f} s after publish")


def test_an_account_that_lost_live_access_is_told_so_and_polling_stops(
    server, driver, websockets_off
):
    websockets_off.unlink()  # websockets work: the refusal comes from the stream itself
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=CONSOLE)
    log_in(driver, server, officer)
    driver.get(server.url + "/console/")
    page_wait(driver, 15).until(lambda d: portal(d, "connected") == "1")

    officer.application_grants.filter(
        application__in=[Application.ALERT_CONSOLE, Application.SIREN]
    ).delete()
    driver.execute_script("window.portalLive.drop()")
    # Reconnects are refused at the handshake (the browser sees no reason); the page falls
    # back to polling, whose 403 says why, and then stops.
    page_wait(driver, 30, poll_frequency=0.2).until(
        lambda d: banner(d).text == "Live alerts need Alert Console or Siren access."
    )
    polls = portal(driver, "polls")
    assert portal(driver, "polling") == "0"
    time.sleep(11)  # longer than a polling period
    assert portal(driver, "polls") == polls
    assert banner(driver).is_displayed() and portal(driver, "connected") != "1"
