"""A database outage gives the web UI a clear 503, never the generic 500 page.

A private PostgreSQL cluster (a copy of the test database, sessions included) serves
daphne with the production settings (DEBUG off, collected static files). It is stopped
while a police user and a reviewer are logged in: their portal and review-queue pages
answer 503 "Service temporarily unavailable, retrying" with Retry-After, the live
polling endpoint, the dispatch API and JSON requests a 503 problem+json. The page a
browser shows reloads itself and is the console again once the database is back.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests
from django.test import Client
from selenium.webdriver.common.by import By

from apps.accounts.models import Application
from apps.core.problems import DATABASE_UNAVAILABLE_RETRY_AFTER_S, PROBLEM_CONTENT_TYPE
from apps.integrations.services import api_token_create
from tests.browser import REPO_ROOT, chromium, current_database_url, page_wait
from tests.factories import UserFactory, login_verified
from tests.faults.support import app_env, copy_database, daphne, wait_until
from tests.portal.support import geography, published_incident

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONSOLE = [Application.ALERT_CONSOLE, Application.INVESTIGATOR_PORTAL, Application.SIREN]
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
TITLE = "Service temporarily unavailable, retrying"


def session_cookie(user, *, verified: bool = False) -> dict[str, str]:
    client = Client()
    if verified:
        login_verified(client, user)
    else:
        client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


def collect_static(env: dict, static_root) -> None:
    """The production static pipeline (manifest storage), as the Docker image runs it."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=REPO_ROOT,
        env={**env, "STATIC_ROOT": str(static_root)},
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_pages_answer_a_database_outage_with_a_503_and_come_back_with_it(
    tmp_path, agency, private_redis, cluster, settings
):
    _, district, beat = geography(agency)
    incident = published_incident(agency, beat=beat, district=district)
    officer = UserFactory(agency=agency, applications=CONSOLE)
    reviewer = UserFactory(irc_reviewer=True)
    token = api_token_create(agency=agency, name="CAD")
    officer_cookies = session_cookie(officer)
    reviewer_cookies = session_cookie(reviewer, verified=True)
    copy_database(source_url=current_database_url(), cluster=cluster, name="shotspotter")
    env = app_env(
        database_url=cluster.url("shotspotter"),
        redis_url=private_redis.url,
        tmp_path=tmp_path,
        SECRET_KEY=settings.SECRET_KEY,  # the sessions were signed with it
        STATIC_ROOT=str(tmp_path / "static"),
    )
    collect_static(env, tmp_path / "static")
    # The production ASGI app: WhiteNoise serves the collected (hashed) static files.
    web, url = daphne(env=env, tmp_path=tmp_path, app="shotspotter.asgi:application")
    detail = f"/console/incident/{agency.system_id}/{incident.number}"
    pages = [
        (officer_cookies, "/console/"),
        (officer_cookies, "/investigator/"),
        (officer_cookies, detail),
        (reviewer_cookies, "/review/"),
        (reviewer_cookies, f"/review/incident/{incident.pk}/"),
    ]

    def get(path, cookies=None, headers=HTML, **kwargs):
        return requests.get(
            url + path, cookies=cookies, headers=headers, timeout=30, allow_redirects=False
        )

    driver = None
    try:
        for cookies, path in pages:
            reply = get(path, cookies)
            assert reply.status_code == 200, (path, reply.status_code)
            assert "Retry-After" not in reply.headers

        cluster.stop(mode="fast")

        # HTML pages: the 503 page, not the generic 500 one.
        for cookies, path in pages:
            reply = get(path, cookies)
            assert reply.status_code == 503, (path, reply.status_code, reply.text[:300])
            assert reply.headers["Retry-After"] == str(DATABASE_UNAVAILABLE_RETRY_AFTER_S)
            assert reply.headers["Content-Type"].startswith("text/html")
            assert reply.headers["Cache-Control"] == "no-store"
            assert TITLE in reply.text, path
            refresh = f'<meta http-equiv="refresh" content="{DATABASE_UNAVAILABLE_RETRY_AFTER_S}">'
            assert refresh in reply.text
            for generic in ("Server error", "Something went wrong", "Traceback"):
                assert generic not in reply.text, (path, generic)
            # Nothing of the user's was looked up: no name, no account links.
            assert "My Account" not in reply.text and officer.email not in reply.text
        # The page's stylesheet (collected, hashed) is served without the database.
        stylesheet = re.search(r'href="([^"]+\.css)"', reply.text).group(1)
        assert get(stylesheet, headers={}).status_code == 200

        # JSON clients: 503 problem+json.
        json_requests = [
            ("/live/agency/events?after=0", officer_cookies, {"Accept": "application/json"}),
            ("/console/", officer_cookies, {"Accept": "application/json"}),
            ("/review/", reviewer_cookies, {"Accept": "application/json"}),
            ("/api/v1/incidents/", None, {"Authorization": f"Bearer {token.plaintext}"}),
        ]
        for path, cookies, headers in json_requests:
            reply = get(path, cookies, headers)
            assert reply.status_code == 503, (path, reply.status_code, reply.text[:300])
            assert reply.headers["Content-Type"] == PROBLEM_CONTENT_TYPE, path
            assert reply.headers["Retry-After"] == str(DATABASE_UNAVAILABLE_RETRY_AFTER_S)
            problem = reply.json()
            assert (problem["status"], problem["title"]) == (503, "Service Unavailable"), path

        # A browser left on the 503 page reloads it by itself until the console is back.
        driver = chromium(width=1024, height=768, exact_viewport=True)
        driver.get(url + stylesheet)
        driver.add_cookie({"name": "sessionid", "value": officer_cookies["sessionid"]})
        driver.get(url + "/console/")
        assert TITLE in driver.find_element(By.TAG_NAME, "h1").text
        cluster.start()
        page_wait(driver, 3 * DATABASE_UNAVAILABLE_RETRY_AFTER_S + 10).until(
            lambda d: d.find_elements(By.ID, "incident-rows")
        )
        assert incident.reference in driver.find_element(By.ID, "incident-rows").text

        wait_until(lambda: get("/console/", officer_cookies).status_code == 200, timeout_s=30,
                   what="the console to answer 200 again")  # fmt: skip
        for cookies, path in pages:
            reply = get(path, cookies)
            assert reply.status_code == 200, (path, reply.status_code)
        for path, cookies, headers in json_requests[:1] + json_requests[3:]:
            assert get(path, cookies, headers).status_code == 200, path

        log = web.log()
        assert "database unavailable during GET /console/" in log
        assert "Internal Server Error" not in log and "Traceback" not in log, log[-3000:]
    finally:
        if driver is not None:
            driver.quit()
        web.stop()
