"""Headless Chromium against daphne (PostgreSQL + Redis): two users of one agency.

The server runs in its own process, so events from this test process reach it through
Redis exactly as a review-center publish reaches the web servers in production.
"""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from apps.accounts.models import Application
from apps.audit.models import AuditEvent
from apps.evidence.models import PlaybackGrant
from apps.portal.services import mark_opened
from tests.browser import DaphneServer, chromium, current_database_url, page_wait
from tests.factories import DEFAULT_PASSWORD, AgencyFactory, UserFactory, login_as
from tests.portal.support import (
    add_clip,
    comment,
    geography,
    move,
    published_incident,
    reclassify,
    wav_bytes,
)
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


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    env = {
        "DJANGO_SETTINGS_MODULE": "shotspotter.settings_test",
        "DATABASE_URL": current_database_url(),
        "MEDIA_ROOT": str(media),
    }
    with DaphneServer(env=env) as daphne:
        daphne.media_root = media
        yield daphne


@pytest.fixture
def browsers():
    opened = []

    def make():
        driver = chromium(width=1024, height=768, exact_viewport=True)
        opened.append(driver)
        return driver

    yield make
    for driver in opened:
        driver.quit()


def log_in(driver, server, user) -> None:
    client = Client()
    login_as(client, user)  # verified by two-factor when the user's role needs it
    driver.get(server.url + "/healthz")
    session = client.cookies["sessionid"].value
    driver.add_cookie({"name": "sessionid", "value": session, "path": "/"})


def open_live(driver, server, path: str) -> None:
    driver.get(server.url + path)
    page_wait(driver, 10).until(
        lambda d: d.find_element(By.ID, "portal").get_attribute("data-connected") == "1"
    )


def text_of(driver, css: str) -> str:
    """Text of an element that live updates may replace at any moment."""
    try:
        return driver.find_element(By.CSS_SELECTOR, css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def toaster(driver):
    found = driver.find_elements(By.CSS_SELECTOR, "#toasters .toaster")
    return found[0] if found else None


def played(driver, sound: str) -> int:
    value = driver.find_element(By.ID, "portal").get_attribute(f"data-played-{sound}")
    return int(value or 0)


def no_horizontal_scroll(driver) -> bool:
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
        " && document.body.scrollWidth <= window.innerWidth"
    )


def wrapped_topbar_items(driver) -> list[str]:
    """Top-bar links, buttons and labels whose text wraps onto a second line."""
    return driver.execute_script(
        "var lineHeight = parseFloat(getComputedStyle(document.body).lineHeight);"
        "return Array.from(document.querySelectorAll("
        "'.topbar a, .topbar button, .topbar .who'))"
        ".filter(function (e) { var r = e.getBoundingClientRect();"
        " return r.width > 0 && r.height > 1.5 * lineHeight; })"
        ".map(function (e) { return e.textContent.trim(); });"
    )


def fully_visible(driver, element) -> bool:
    return driver.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "return r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0"
        " && r.right <= window.innerWidth && r.bottom <= window.innerHeight;",
        element,
    )


# Every item of the top bar that is drawn: its label, box and whether something hides part
# of it (the window's edge, a clipping or scrolling ancestor, or its own ellipsis).
TOPBAR_ITEMS = """
var bar = document.querySelector('.topbar');
return Array.from(bar.querySelectorAll('.brand, a, button, .who'))
  .filter(function (e) {
    var r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden';
  })
  .map(function (e, index) {
    var r = e.getBoundingClientRect();
    var cut = r.left < 0 || r.top < 0 || r.right > window.innerWidth + 0.5
      || e.scrollWidth > e.clientWidth + 1;
    for (var a = e.parentElement; a && a !== bar.parentElement; a = a.parentElement) {
      var s = getComputedStyle(a);
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
        var c = a.getBoundingClientRect();
        if (r.left < c.left - 0.5 || r.right > c.right + 0.5
            || r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5) { cut = true; }
      }
    }
    return {index: index, label: e.textContent.replace(/\\s+/g, ' ').trim(), cut: cut,
            left: r.left, right: r.right, top: r.top, bottom: r.bottom,
            nested: e.closest('.brand') !== null && !e.classList.contains('brand')};
  });
"""


def topbar_items(driver) -> list[dict]:
    return [item for item in driver.execute_script(TOPBAR_ITEMS) if not item["nested"]]


def overlapping_topbar_items(driver) -> list[str]:
    """Pairs of top-bar items drawn over each other (a pixel of anti-aliasing allowed)."""
    items = topbar_items(driver)
    found = []
    for k, first in enumerate(items):
        for second in items[k + 1 :]:
            across = min(first["right"], second["right"]) - max(first["left"], second["left"])
            down = min(first["bottom"], second["bottom"]) - max(first["top"], second["top"])
            if across > 1 and down > 1:
                found.append(f"{first['label']!r} overlaps {second['label']!r}")
    return found


def cut_off_topbar_items(driver) -> list[str]:
    """Top-bar items that cannot be read in full: clipped, scrolled away or ellipsized."""
    return [item["label"] for item in topbar_items(driver) if item["cut"]]


def duplicate_topbar_labels(driver) -> list[str]:
    labels = [item["label"] for item in topbar_items(driver)]
    return sorted({label for label in labels if labels.count(label) > 1})


def assert_topbar_readable(driver, name: str) -> None:
    """Every top-bar item is on the screen in full, apart from the others, and once."""
    assert overlapping_topbar_items(driver) == [], name
    assert cut_off_topbar_items(driver) == [], name
    assert duplicate_topbar_labels(driver) == [], name
    assert wrapped_topbar_items(driver) == [], name


def test_toaster_for_both_users_stops_blinking_when_the_other_opens(server, browsers):
    agency = AgencyFactory()
    _, district, beat = geography(agency)
    anna = UserFactory(agency=agency, full_name="Anna Call-Taker", applications=CONSOLE)
    ben = UserFactory(agency=agency, full_name="Ben Patrol", applications=CONSOLE)
    first, second = browsers(), browsers()
    log_in(first, server, anna)
    log_in(second, server, ben)
    open_live(first, server, "/console/")
    open_live(second, server, "/console/?profile=mobile")

    incident = published_incident(agency, beat=beat, district=district, rounds=4)
    published = time.monotonic()
    for driver in (first, second):
        page_wait(driver, 1.0, poll_frequency=0.05).until(
            lambda d: toaster(d) is not None and "blinking" in toaster(d).get_attribute("class")
        )
    assert time.monotonic() - published < 1.0

    text = toaster(second).text
    for expected in (
        "Central",
        "Multiple gunshots",
        "1200 block of W Main St",
        "Beat 11",
        "District 1",
        "View Incident",
        "Dismiss",
        "Snooze",
    ):
        assert expected in text, expected
    assert played(second, "reminder") >= 1
    # The list shows the new incident without switching to its details.
    page_wait(first, 3).until(
        lambda d: incident.reference in d.find_element(By.ID, "incident-rows").text
    )
    assert first.current_url.endswith("/console/")
    # Popup text can be selected and copied.
    assert first.execute_script(
        "return getComputedStyle(document.querySelector('.toaster')).userSelect"
    ) in ("text", "auto")
    # Picture the toaster in the red phase of its blink.
    page_wait(first, 2, poll_frequency=0.02).until(
        lambda d: (
            d.execute_script(
                "return getComputedStyle(document.querySelector('.toaster')).borderTopColor"
            )
            == "rgb(179, 38, 30)"
        )
    )
    first.save_screenshot(str(SCREENSHOTS / "portal-toaster.png"))

    # The reminder repeats while nobody has opened the incident.
    before = played(second, "reminder")
    second.execute_script("window.portalToasters.remind()")
    assert played(second, "reminder") == before + 1

    # Anna opens it: Ben's toaster stops blinking and names her; his reminder stops.
    toaster(first).find_element(By.CSS_SELECTOR, ".view").click()
    page_wait(first, 5).until(
        lambda d: f"/console/incident/{agency.system_id}/{incident.number}" in d.current_url
    )
    page_wait(second, 3, poll_frequency=0.05).until(
        lambda d: "blinking" not in toaster(d).get_attribute("class")
    )
    assert "Opened by Anna Call-Taker" in toaster(second).text
    before = played(second, "reminder")
    second.execute_script("window.portalToasters.remind()")
    assert played(second, "reminder") == before
    # Dismiss closes it.
    toaster(second).find_element(By.CSS_SELECTOR, ".dismiss").click()
    assert toaster(second) is None


def test_toaster_closes_once_the_user_opens_the_incident_from_the_list(server, browsers):
    """Opening the incident any other way than View Incident (here: its row in the list)
    closes the toaster too, instead of leaving it over the map and the nearby incidents;
    a colleague's toaster stays, naming who opened it."""
    agency = AgencyFactory()
    _, district, beat = geography(agency)
    officer = UserFactory(agency=agency, full_name="Pat Officer", applications=CONSOLE)
    colleague = UserFactory(agency=agency, applications=CONSOLE)
    mine, theirs = browsers(), browsers()
    log_in(mine, server, officer)
    log_in(theirs, server, colleague)
    open_live(mine, server, "/console/")
    open_live(theirs, server, "/console/")
    incident = published_incident(agency, beat=beat, district=district, rounds=8)
    for driver in (mine, theirs):
        page_wait(driver, 3, poll_frequency=0.05).until(lambda d: toaster(d) is not None)

    row_link = f"#incident-rows tr[data-incident-id='{incident.pk}'] td.ref a"
    page_wait(mine, 3).until(lambda d: d.find_elements(By.CSS_SELECTOR, row_link))
    mine.find_element(By.CSS_SELECTOR, row_link).click()
    details = f"/console/incident/{agency.system_id}/{incident.number}"
    page_wait(mine, 5).until(lambda d: details in d.current_url)
    page_wait(mine, 5, poll_frequency=0.05).until(lambda d: toaster(d) is None)
    mine.save_screenshot(str(SCREENSHOTS / "portal-details-after-opening.png"))
    # The colleague still sees it, no longer blinking, with who opened it.
    page_wait(theirs, 3, poll_frequency=0.05).until(
        lambda d: "Opened by Pat Officer" in text_of(d, "#toasters .toaster")
    )
    assert "blinking" not in toaster(theirs).get_attribute("class")
    # Closed for good: going back to the list does not bring it back.
    open_live(mine, server, "/console/")
    time.sleep(1.0)
    assert toaster(mine) is None

    # The colleague opens it after the officer: their toaster closes as well.
    open_live(theirs, server, details)
    page_wait(theirs, 5, poll_frequency=0.05).until(lambda d: toaster(d) is None)


# Scroll and client sizes of the toaster stack and of every toaster shown in it.
TOASTER_BOXES = """
return Array.prototype.map.call(
  document.querySelectorAll('#toasters, #toasters .toaster:not([hidden])'),
  function (e) {
    var r = e.getBoundingClientRect();
    return {name: e.id || e.querySelector('h2').textContent, sh: e.scrollHeight,
            ch: e.clientHeight, sw: e.scrollWidth, cw: e.clientWidth, top: r.top,
            bottom: r.bottom, left: r.left, right: r.right};
  });
"""


def toaster_overflow(driver) -> list[str]:
    """What scrolls inside the toasters, or sticks out of the window ([] when nothing)."""
    width, height = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    found = []
    for box in driver.execute_script(TOASTER_BOXES):
        if box["sh"] > box["ch"] or box["sw"] > box["cw"]:
            found.append(f"{box['name']} scrolls: {box}")
        if box["top"] < 40 or box["left"] < 0 or box["bottom"] > height or box["right"] > width:
            found.append(f"{box['name']} is not fully on the screen below the top bar: {box}")
    return found


def shown_toasters(driver, *, total: int) -> list:
    """The toasters on the screen; the hidden rest of ``total`` must be counted above them."""
    shown = driver.find_elements(By.CSS_SELECTOR, "#toasters .toaster:not([hidden])")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#toasters .toaster")) == total
    more = driver.find_elements(By.CSS_SELECTOR, "#toasters .toasters-more:not([hidden])")
    hidden = total - len(shown)
    if hidden:
        plural = "s" if hidden > 1 else ""
        assert [m.text for m in more] == [f"+{hidden} older alert{plural} (see the list)"]
    else:
        assert not more
    return shown


@pytest.mark.parametrize(
    ("width", "height", "profile"),
    [(1024, 768, ""), (1366, 768, ""), (1920, 1080, ""), (1024, 768, "mobile")],
)
def test_toasters_never_scroll(server, width, height, profile):
    """Nothing scrolls inside the toaster stack, while a toaster appears or when more
    alerts arrive than fit: the oldest are hidden and counted, and come back as newer
    ones are dismissed."""
    agency = AgencyFactory()
    _, district, beat = geography(agency)
    officer = UserFactory(agency=agency, applications=CONSOLE)
    driver = chromium(width=width, height=height, exact_viewport=True)
    try:
        log_in(driver, server, officer)
        open_live(driver, server, "/console/" + (f"?profile={profile}" if profile else ""))
        for n in range(1, 6):
            published_incident(agency, beat=beat, district=district, rounds=4)
            page_wait(driver, 3, poll_frequency=0.05).until(
                lambda d, n=n: len(d.find_elements(By.CSS_SELECTOR, "#toasters .toaster")) == n
            )
            # While the newest one appears (its animation runs .35 s) and after.
            for _ in range(6):
                assert toaster_overflow(driver) == []
                time.sleep(0.08)
        shown = shown_toasters(driver, total=5)
        assert 3 <= len(shown) <= 5
        newest = shown[-1]
        assert "compact" not in newest.get_attribute("class")
        assert "Nearest address" in newest.text and "Snooze" in newest.text
        assert all("compact" in older.get_attribute("class") for older in shown[:-1])
        name = f"portal-toasters-{width}x{height}{'-' + profile if profile else ''}.png"
        driver.save_screenshot(str(SCREENSHOTS / name))
        # Dismissing the newest brings a hidden one back; still nothing scrolls.
        newest.find_element(By.CSS_SELECTOR, ".dismiss").click()
        assert len(shown_toasters(driver, total=4)) >= min(len(shown), 4)
        assert toaster_overflow(driver) == []
    finally:
        driver.quit()


def test_new_comment_appears_on_the_open_details_page_without_reload(server, browsers, settings):
    settings.MEDIA_ROOT = server.media_root  # clips stored here are served by daphne
    agency = AgencyFactory()
    _, district, beat = geography(agency)
    officer = UserFactory(agency=agency, applications=CONSOLE)
    published_incident(agency, lat=40.6966, lon=-89.5870, address="900 N Elm St")
    incident = published_incident(agency, beat=beat, district=district)
    add_clip(incident, distance_m=143.2, serial=f"S-{agency.system_id}-a")
    add_clip(incident, distance_m=388.9, serial=f"S-{agency.system_id}-b")
    driver = browsers()
    log_in(driver, server, officer)
    open_live(driver, server, f"/console/incident/{agency.system_id}/{incident.number}")
    driver.execute_script("window.__sameDocument = 42")

    comment(incident, "Possibly located behind the school building")
    page_wait(driver, 5, poll_frequency=0.05).until(
        lambda d: (
            "Possibly located behind the school building" in d.find_element(By.ID, "timeline").text
        )
    )
    assert driver.execute_script("return window.__sameDocument") == 42
    page_wait(driver, 5).until(lambda d: played(d, "gong") >= 1)
    # The nearby panel and the map show the same incident.
    nearby = driver.find_elements(By.CSS_SELECTOR, "#nearby-list li[data-incident-id]")
    markers = driver.find_elements(By.CSS_SELECTOR, "#map path.incident-marker")
    assert len(nearby) == len(markers) == 1
    assert no_horizontal_scroll(driver)
    time.sleep(2.1)  # let the "updated" highlight fade before the picture
    driver.save_screenshot(str(SCREENSHOTS / "portal-details.png"))

    # A moved location and a reclassification update the same page in place, with a gong.
    move(incident, lat=40.6946, lon=-89.5890, note="Possibly located behind the school")
    page_wait(driver, 5, poll_frequency=0.05).until(
        lambda d: "40.69460" in text_of(d, ".fact-location")
    )
    reclassify(incident, decision="single_gunshot", reason="Echoes, one shot", rounds=1)
    page_wait(driver, 5, poll_frequency=0.05).until(
        lambda d: text_of(d, ".fact-type") == "Single gunshot"
    )
    page_wait(driver, 5).until(lambda d: played(d, "gong") >= 3)
    assert driver.execute_script("return window.__sameDocument") == 42

    # "Copy secure link" puts the link on the clipboard (or shows it, selectable).
    driver.find_element(By.CSS_SELECTOR, ".copy-link").click()
    secure_link = f"{server.url}/incident/{agency.system_id}/{incident.number}"
    page_wait(driver, 5).until(lambda d: secure_link in text_of(d, ".copy-result"))

    # "View on Siren" opens the same incident in a new tab with the same session.
    console_tab = driver.current_window_handle
    driver.find_element(By.ID, "view-on-siren").click()
    page_wait(driver, 5).until(lambda d: len(d.window_handles) == 2)
    driver.switch_to.window([h for h in driver.window_handles if h != console_tab][0])
    page_wait(driver, 5).until(
        lambda d: d.current_url == f"{server.url}/incident/{agency.system_id}/{incident.number}"
    )
    assert f"Incident {incident.reference}" in driver.find_element(By.TAG_NAME, "h1").text
    driver.close()
    driver.switch_to.window(console_tab)

    # Playing a clip is logged in the audit trail.
    assert "143 m" in driver.find_element(By.CSS_SELECTOR, "ul.clips").text
    driver.find_element(By.CSS_SELECTOR, "ul.clips .evidence-player button.play").click()
    page_wait(driver, 5).until(
        lambda d: d.execute_script(
            "var a = document.querySelector('ul.clips audio');return a.ended || a.currentTime > 0;"
        ),
        message="the clip did not play: "
        + driver.find_element(By.CSS_SELECTOR, "ul.clips .play-state").text,
    )
    assert AuditEvent.objects.filter(action="audio.playback", actor=officer).count() == 1
    # The element fetched the bytes with the playback's token (Range requests included).
    grant = PlaybackGrant.objects.get(user=officer)
    assert grant.opened_at is not None and grant.bytes_served >= len(wav_bytes())
    # Playing again is a new playback: a new token, a new audit event, and it plays.
    page_wait(driver, 5).until(
        lambda d: d.execute_script("return document.querySelector('ul.clips audio').ended;")
    )
    driver.find_element(By.CSS_SELECTOR, "ul.clips .evidence-player button.play").click()
    page_wait(driver, 5).until(
        lambda d: PlaybackGrant.objects.filter(user=officer, opened_at__isnull=False).count() == 2,
        message="the second press did not fetch with a new token",
    )
    assert AuditEvent.objects.filter(action="audio.playback", actor=officer).count() == 2


def test_secure_link_forces_a_log_in_then_shows_the_incident(server, browsers):
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.SIREN])
    incident = published_incident(agency)
    link = f"/incident/{agency.system_id}/{incident.number}"
    driver = browsers()
    driver.get(server.url + link)
    assert "/accounts/login/" in driver.current_url
    driver.find_element(By.NAME, "email").send_keys(officer.email)
    driver.find_element(By.NAME, "password").send_keys(DEFAULT_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    page_wait(driver, 5).until(lambda d: d.current_url == server.url + link)
    assert f"Incident {incident.reference}" in driver.find_element(By.TAG_NAME, "h1").text


def test_dropped_connection_catches_up_without_losing_an_alert(server, browsers):
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=CONSOLE)
    driver = browsers()
    log_in(driver, server, officer)
    open_live(driver, server, "/console/")
    driver.execute_script("window.portalLive.drop()")
    page_wait(driver, 2).until(
        lambda d: d.find_element(By.ID, "portal").get_attribute("data-connected") == "0"
    )
    missed = published_incident(agency)  # published while the socket is down
    page_wait(driver, 10).until(lambda d: toaster(d) is not None)
    assert toaster(driver).get_attribute("data-incident-id") == str(missed.pk)
    assert len(driver.find_elements(By.CSS_SELECTOR, "#toasters .toaster")) == 1


def test_a_console_opened_later_still_alerts_for_unopened_incidents(server, browsers):
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=CONSOLE)
    incident = published_incident(agency)  # no console was open
    driver = browsers()
    log_in(driver, server, officer)
    open_live(driver, server, "/console/")
    page_wait(driver, 2).until(lambda d: toaster(d) is not None)
    assert toaster(driver).get_attribute("data-incident-id") == str(incident.pk)
    assert "blinking" in toaster(driver).get_attribute("class")
    assert played(driver, "reminder") >= 1


def test_investigator_details_update_in_place_without_live_access(server, browsers):
    agency = AgencyFactory()
    investigator = UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL])
    incident = published_incident(agency)
    driver = browsers()
    log_in(driver, server, investigator)
    driver.get(f"{server.url}/investigator/incident/{agency.system_id}/{incident.number}")
    page_wait(driver, 5).until(lambda d: d.find_elements(By.ID, "timeline"))
    assert driver.execute_script("return window.portalLive") is None  # no websocket for them
    assert not driver.find_element(By.ID, "connection").is_displayed()
    driver.execute_script("window.__sameDocument = 7")
    comment(incident, "Shell casings found at the corner")
    driver.execute_script("window.portalPoll()")  # what the page does every 20 s
    page_wait(driver, 5).until(
        lambda d: "Shell casings found at the corner" in text_of(d, "#timeline")
    )
    assert driver.execute_script("return window.__sameDocument") == 7
    page_wait(driver, 5).until(lambda d: played(d, "gong") == 1)
    driver.execute_script("window.portalPoll()")  # nothing new: no gong
    time.sleep(0.5)
    assert played(driver, "gong") == 1


def test_layout_holds_at_1024x768(server, browsers):
    agency = AgencyFactory()
    _, district, beat = geography(agency)
    officer = UserFactory(agency=agency, applications=CONSOLE)
    colleague = UserFactory(agency=agency, applications=CONSOLE)
    for k, (dlat, dlon) in enumerate([(0, 0), (0.003, 0.002), (-0.004, 0.006), (0.008, -0.01)]):
        incident = published_incident(
            agency,
            lat=40.6936 + dlat,
            lon=-89.5890 + dlon,
            beat=beat,
            district=district,
            address=f"{1200 + 100 * k} block of W Main St",
        )
        if k < 3:  # a colleague opened the first three; the last one still alerts
            mark_opened(user=colleague, incident=incident)
    driver = browsers()
    log_in(driver, server, officer)
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [1024, 768]

    pages = {
        "list": "/console/",
        "details": f"/console/incident/{agency.system_id}/{incident.number}",
        "investigator": "/investigator/",
        "siren": f"/incident/{agency.system_id}/{incident.number}",
        "mobile": "/console/?profile=mobile",
        "call_taker": "/console/?profile=call_taker",
    }
    for name, path in pages.items():
        driver.get(server.url + path)
        page_wait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".leaflet-pane"))
        assert no_horizontal_scroll(driver), name
        assert_topbar_readable(driver, name)
        # One row: nothing wrapped, the panes keep their height.
        assert driver.find_element(By.CSS_SELECTOR, ".topbar").rect["height"] <= 48, name
        assert fully_visible(driver, driver.find_element(By.CSS_SELECTOR, "footer.version")), name
        assert driver.find_element(By.CSS_SELECTOR, "footer.version").text
        assert fully_visible(driver, driver.find_element(By.ID, "map-toggle-coverage")), name
        map_box = driver.find_element(By.ID, "map").rect
        assert map_box["width"] >= 300 and map_box["height"] >= 200, name
        if name in ("details", "siren"):
            assert fully_visible(driver, driver.find_element(By.CSS_SELECTOR, ".copy-link")), name
            assert fully_visible(driver, driver.find_element(By.ID, "nearby-title")), name
        else:
            first_row = driver.find_element(By.CSS_SELECTOR, "#incident-rows tr")
            assert fully_visible(driver, first_row), name
        if name in ("list", "investigator", "mobile", "siren"):
            driver.save_screenshot(str(SCREENSHOTS / f"portal-{name}.png"))

    # The coverage-area outline is on for everyone and toggled from the map toolbar.
    driver.get(server.url + pages["details"])
    outline = "#map path.coverage-outline"
    page_wait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, outline))
    toggle = driver.find_element(By.ID, "map-toggle-coverage")
    toggle.click()
    assert not driver.find_elements(By.CSS_SELECTOR, outline)
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert driver.find_elements(By.CSS_SELECTOR, outline)
    # The measuring tool: two clicks 200 px apart on the map give a distance.
    driver.find_element(By.ID, "map-measure").click()
    from selenium.webdriver.common.action_chains import ActionChains

    map_element = driver.find_element(By.ID, "map")
    ActionChains(driver).move_to_element_with_offset(map_element, -100, 0).click().perform()
    time.sleep(0.4)
    ActionChains(driver).move_to_element_with_offset(map_element, 100, 0).click().perform()
    result = page_wait(driver, 2).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".measure-result")
    )
    page_wait(driver, 2).until(lambda d: "Distance:" in result.text)
    assert result.text.split("Distance: ")[1].endswith(("m", "km"))
    driver.save_screenshot(str(SCREENSHOTS / "portal-map.png"))


@pytest.mark.parametrize(("width", "height"), [(1024, 768), (1280, 900), (390, 844)])
def test_topbar_items_never_overlap_hide_or_repeat(server, width, height):
    """On a desktop, a laptop and a phone every top-bar item of every page is readable in
    full, clear of the others, and listed once (a phone may wrap the bar, not clip it)."""
    agency = AgencyFactory(name="Riverside Police Department")
    _, district, beat = geography(agency)
    # The longest bar: every application, the agency administration, a long e-mail.
    boss = UserFactory(
        agency=agency,
        super_user=True,
        email="officer@riverside-pd.example",
        applications=[*CONSOLE, Application.BRIEFING_ROOM],
    )
    incident = published_incident(agency, beat=beat, district=district)
    details = f"{agency.system_id}/{incident.number}"
    pages = {
        "home": "/",
        "my_account": reverse("accounts:my_account"),
        "console": "/console/",
        "call_taker": "/console/?profile=call_taker",
        "mobile": "/console/?profile=mobile",
        "console_details": f"/console/incident/{details}",
        "investigator": "/investigator/",
        "siren": f"/incident/{details}",
        "investigations": reverse("investigations:list"),
        "briefing": reverse("briefing:index"),
        "agency_users": reverse("agency_admin:users"),
        "alert_deliveries": reverse("alerts:deliveries"),
    }
    driver = chromium(width=width, height=height, exact_viewport=True)
    try:
        log_in(driver, server, boss)
        driver.get_log("browser")  # forget what the log-in page logged
        for name, path in pages.items():
            driver.get(server.url + path)
            page_wait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".topbar"))
            label = f"{name} at {width}x{height}"
            assert driver.find_elements(By.CSS_SELECTOR, ".topbar .account a"), label
            assert driver.find_elements(By.CSS_SELECTOR, ".topbar .topnav a"), label
            assert_topbar_readable(driver, label)
            # The portal's panes fit the width too (on a phone they stack).
            for pane in driver.find_elements(
                By.CSS_SELECTOR, ".list-pane, .detail-pane, .nearby-pane, #map"
            ):
                box = pane.rect
                assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, label
                if width <= 640:  # stacked: each pane as wide as the screen
                    assert box["width"] >= width - 20, label
            if name in ("console", "console_details", "home"):
                driver.save_screenshot(str(SCREENSHOTS / f"topbar-{name}-{width}x{height}.png"))
        # The icon loads, and /favicon.ico (asked for by some browsers regardless) leads to it.
        not_found = [e["message"] for e in driver.get_log("browser") if "404" in e["message"]]
        assert not_found == []
        icon = driver.execute_async_script(
            "var done = arguments[0]; fetch('/favicon.ico').then(function (r) {"
            " done([r.status, r.headers.get('Content-Type')]); });"
        )
        assert icon[0] == 200 and icon[1].startswith("image/svg+xml")
    finally:
        driver.quit()
