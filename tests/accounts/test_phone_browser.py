"""The agency super user's tables on a phone (390 px) in headless Chromium: users, audit
log, alert e-mail deliveries, webhooks and investigation requests are read without
scrolling the page sideways (each row becomes a card of labelled fields)."""

from __future__ import annotations

import base64

import pytest
from selenium.webdriver.common.by import By

from apps.accounts.models import Application
from apps.alerts.models import WebhookEndpoint
from apps.audit.services import record_event
from apps.review import signals
from tests.alerts.conftest import _alert_settings  # noqa: F401 (the alert settings)
from tests.alerts.support import agency_with_geography, published_incident, siren_user
from tests.factories import UserFactory
from tests.incidents.support import CENTRE
from tests.investigations.support import file_request, officer
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = (390, 844)
PAGES = {
    "users": "/agency/users/",
    "audit": "/agency/audit/",
    "deliveries": "/alerts/agency/deliveries/",
    "webhooks": "/alerts/agency/webhooks/",
    "investigations": "/investigations/",
}


def _save_whole_page(driver, path) -> None:
    """The whole page (not only the viewport) as PNG, at the phone's width."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def test_agency_tables_fit_a_phone_without_sideways_scrolling(live_server, smtp_server):
    from tests.browser import chromium, session_key, sign_in

    agency, area, _, beats = agency_with_geography()
    boss = UserFactory(
        super_user=True,
        agency=agency,
        email="commander.longname@harbor-city-police.example.org",
        applications=[Application.INVESTIGATOR_PORTAL],
    )
    for n in range(3):
        UserFactory(
            agency=agency,
            email=f"officer.number{n}.with.a.long.address@harbor-city-police.example.org",
            applications=[Application.SIREN, Application.ALERT_CONSOLE, Application.BRIEFING_ROOM],
        )
    siren_user(agency=agency, email="dispatch.supervisor.overnight@harbor-city-police.example.org")
    siren_user(agency=agency, email="gone.away.officer@harbor-city-police.example.org")
    smtp_server.rcpt_replies["gone.away.officer@harbor-city-police.example.org"] = (
        "550 5.1.1 <gone.away.officer@harbor-city-police.example.org>: Recipient address "
        "rejected: User unknown in virtual mailbox table"
    )
    incident = published_incident(area=area, beat=beats["11"])
    # As the review services do; real commits, so the alert e-mails go out at once.
    signals.incident_published.send(sender=None, incident_id=incident.pk)
    detective = officer(agency, email="detective.sergeant@harbor-city-police.example.org")
    here = {"latitude": CENTRE[0], "longitude": CENTRE[1]}
    file_request(
        detective, address="1200 block of West Main Street", case_number="HC-2026-004711", **here
    )
    file_request(boss, case_number="HC-2026-004712", **here)
    record_event(
        action="account.updated",
        actor=boss,
        agency=agency,
        target=boss,
        details={"changed": ["full_name", "role", "applications"], "note": "x" * 120},
    )

    WebhookEndpoint.objects.create(
        agency=agency,
        name="Computer-aided dispatch (primary)",
        url="https://cad-gateway.harbor-city.example.org/integrations/shotspotter/incidents",
        secret="s" * 40,
        event_types=["incident.published", "incident.updated", "incident.cancelled"],
    )

    out = screenshot_dir()
    out.mkdir(parents=True, exist_ok=True)
    driver = chromium(width=PHONE[0], height=PHONE[1], exact_viewport=True)
    try:
        sign_in(driver, live_server.url, session_key(boss))
        widths = {}
        covered = {}
        for name, path in PAGES.items():
            driver.get(live_server.url + path)
            assert driver.find_elements(By.CSS_SELECTOR, "main table"), name
            widths[name] = driver.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth];"
            )
            # The version footer sits below the page, never over a card's text.
            covered[name] = driver.execute_script(
                """
                const v = document.querySelector('.version').getBoundingClientRect();
                return [...document.querySelectorAll('main .card')].some(c => {
                  const r = c.getBoundingClientRect();
                  return v.left < r.right && r.left < v.right
                    && v.top < r.bottom && r.top < v.bottom;
                });
                """
            )
            _save_whole_page(driver, out / f"phone-{name}.png")
        assert all(inner == PHONE[0] for _, inner in widths.values()), widths
        wide = {name: w for name, w in widths.items() if w[0] > w[1]}
        assert wide == {}, f"pages wider than the phone (scrollWidth, innerWidth): {wide}"
        assert not any(covered.values()), f"version footer over a card: {covered}"
        # The cells say what they are once the header row is gone.
        driver.get(live_server.url + PAGES["users"])
        labels = driver.execute_script(
            """
            const cell = document.querySelector('main table tbody td');
            return getComputedStyle(cell, '::before').content;
            """
        )
        assert labels == '"E-mail"'
    finally:
        driver.quit()
