"""The agency audit page in headless Chromium: a super user finds a dispatch system's reads
by typing its token's name, sees them named as the token, and every time in the agency's
zone (the token's ``since`` too)."""

from __future__ import annotations

import pytest
from django.test import Client
from selenium.webdriver.common.by import By

from apps.integrations.services import api_token_create
from tests.factories import AgencyFactory, UserFactory
from tests.integrations.support import LIST, published
from tests.review.support import area_with_beat
from tests.screenshots import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _quiet(settings):
    settings.INTEGRATION_API_AUDIT_QUIET_S = 600


def test_a_super_user_finds_a_tokens_reads_by_its_name_in_local_time(live_server):
    from tests.browser import chromium, session_key, sign_in

    agency = AgencyFactory(system_id="312", time_zone="America/Chicago")
    other = AgencyFactory(system_id="415")
    area = area_with_beat(agency=agency)
    token = api_token_create(agency=agency, name="CAD east")
    theirs = api_token_create(agency=other, name="CAD east backup")
    dispatch = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token.plaintext}"}
    for _ in range(4):  # one entry, then three identical polls counted
        assert dispatch.get(LIST, {"since": "2026-11-21T18:00:00Z"}, **auth).status_code == 200
    incident = published(area=area)
    assert dispatch.get(LIST, {"since": "2026-11-21T18:00:00Z"}, **auth).status_code == 200
    their_auth = {"HTTP_AUTHORIZATION": f"Bearer {theirs.plaintext}"}
    assert Client().get(LIST, **their_auth).status_code == 200
    boss = UserFactory(super_user=True, agency=agency, email="chief@312.example")
    driver = chromium(width=1280, height=900)
    try:
        sign_in(driver, live_server.url, session_key(boss))
        driver.get(live_server.url + "/agency/audit/")
        field = driver.find_element(By.ID, "id_actor")
        assert driver.find_element(By.CSS_SELECTOR, "label[for=id_actor]").text == (
            "Actor contains:"
        )
        field.send_keys("cad east")
        driver.find_element(By.CSS_SELECTOR, ".audit-filter button[type=submit]").click()

        rows = driver.find_elements(By.CSS_SELECTOR, "table.audit-log tbody tr")
        who = [row.find_element(By.CSS_SELECTOR, "td[data-label=Who]").text for row in rows]
        assert who == [f"API token CAD east ({token.token.prefix}…)"] * 2
        summaries = [row.find_element(By.CSS_SELECTOR, ".audit-summary").text for row in rows]
        assert summaries[0].startswith(
            f"GET /api/v1/incidents/?since=2026-11-21 12:00:00 CST: 1 incident "
            f"({incident.reference}). Before it: 3 identical requests"
        )
        assert summaries[1] == "GET /api/v1/incidents/?since=2026-11-21 12:00:00 CST: 0 incidents."
        page = driver.find_element(By.TAG_NAME, "main").text
        assert theirs.token.prefix not in page and "backup" not in page
        out = screenshot_dir()
        driver.save_screenshot(str(out / "agency-audit-token-reads.png"))
    finally:
        driver.quit()
