"""The Briefing Room in headless Chromium: the heat map is drawn under the strict CSP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.models import Application
from tests.alerts.support import agency_with_geography, published_incident
from tests.factories import UserFactory
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOT = screenshot_dir() / "briefing-room.png"


def test_heat_map_is_drawn_and_nothing_is_blocked(live_server):
    from tests.browser import chromium, session_key, sign_in

    agency, area, districts, beats = agency_with_geography()
    now = timezone.now()
    for k in range(30):
        published_incident(
            area=area,
            beat=[beats["11"], beats["12"], beats["21"]][k % 3],
            at=now - dt.timedelta(hours=7 * k + 1),
            rounds=1 + k % 4,
            lat=41.80 + 0.002 * (k % 7),
            lon=-87.70 + 0.003 * (k % 5),
        )
    analyst = UserFactory(agency=agency, applications=[Application.BRIEFING_ROOM])
    driver = chromium(width=1280, height=1600)
    try:
        sign_in(driver, live_server.url, session_key(analyst, verified=False))
        driver.get(live_server.url + "/briefing-room/")
        assert driver.find_element("css selector", "[data-figure=total]").text == "30"
        painted = driver.execute_script(
            """
            const canvas = document.getElementById('heatmap');
            const context = canvas.getContext('2d');
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let coloured = 0;
            for (let i = 0; i < data.length; i += 4) {
              if (!(data[i] === 248 && data[i + 1] === 248 && data[i + 2] === 248)) coloured++;
            }
            return coloured;
            """
        )
        assert painted > 0
        problems = [
            entry["message"]
            for entry in driver.get_log("browser")
            if (entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"])
            and "favicon.ico" not in entry["message"]
        ]
        assert problems == []
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
    finally:
        driver.quit()


def _heat_pixels(driver) -> dict:
    """The canvas size, the painted (non-background) pixels and the darkest red ones."""
    return driver.execute_script(
        """
        const canvas = document.getElementById('heatmap');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0, dark = 0;
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
          if (a > 0 && !(r === 248 && g === 248 && b === 248)) painted++;
          if (a > 200 && r > 140 && g < 60 && b < 60) dark++;
        }
        return {width: canvas.width, height: canvas.height, painted: painted, dark: dark};
        """
    )


@pytest.mark.parametrize("count", [1, 3])
def test_one_or_a_few_incidents_are_dots_on_a_scaled_area_not_one_dark_square(live_server, count):
    """One incident used to fill the whole 480 px canvas with one dark red cell."""
    from tests.browser import chromium, session_key, sign_in

    agency, area, _, beats = agency_with_geography()
    now = timezone.now()
    for k in range(count):
        published_incident(
            area=area,
            beat=beats["11"],
            at=now - dt.timedelta(hours=k + 1),
            lat=41.80 + 0.004 * k,
            lon=-87.70 + 0.003 * k,
        )
    analyst = UserFactory(agency=agency, applications=[Application.BRIEFING_ROOM])
    driver = chromium(width=1280, height=1600)
    try:
        sign_in(driver, live_server.url, session_key(analyst, verified=False))
        driver.get(live_server.url + "/briefing-room/")
        assert driver.find_element("css selector", "[data-figure=total]").text == str(count)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        heat_map = driver.find_element("css selector", "#heatmap")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", heat_map)
        driver.save_screenshot(str(SCREENSHOT.with_name(f"briefing-room-{count}.png")))
        pixels = _heat_pixels(driver)
        area_px = pixels["width"] * pixels["height"]
        # A dot per incident and a scale bar: a small share of the canvas, not all of it.
        assert 0 < pixels["dark"] and pixels["painted"] < 0.05 * area_px, pixels
        caption = driver.find_element("css selector", "#heatmap-caption").text
        assert "too few incidents for a density map" in caption
        scale = heat_map.get_attribute("data-scale")
        assert scale and scale.endswith(" m") or scale.endswith(" km"), scale
    finally:
        driver.quit()
