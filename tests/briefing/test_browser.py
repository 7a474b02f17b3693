"""The Briefing Room in headless Chromium: the heat map is drawn under the strict CSP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Application
from tests.alerts.support import agency_with_geography, published_incident
from tests.factories import UserFactory
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOT = screenshot_dir() / "briefing-room.png"


def test_heat_map_is_drawn_and_nothing_is_blocked(live_server):
    from tests.browser import chromium

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
    client = Client()
    client.force_login(analyst)
    session = client.cookies["sessionid"].value

    driver = chromium(width=1280, height=1600)
    try:
        driver.get(live_server.url + "/healthz")
        driver.add_cookie({"name": "sessionid", "value": session, "path": "/"})
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
