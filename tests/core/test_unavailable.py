"""The 503 for a database outage, by request kind and by where the outage is met.

The real outage (a PostgreSQL cluster stopped under daphne) is in
``tests/faults/test_database_outage_pages.py``; here the database error is raised where
an outage raises it, in a view or in the session gatekeeping middleware, so every branch
is checked quickly.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from apps.core.problems import DATABASE_UNAVAILABLE_RETRY_AFTER_S, PROBLEM_CONTENT_TYPE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TITLE = "Service temporarily unavailable, retrying"
REFRESH = f'<meta http-equiv="refresh" content="{DATABASE_UNAVAILABLE_RETRY_AFTER_S}">'
DOWN = OperationalError('connection to server at "127.0.0.1", port 5432 failed: refused')


@pytest.fixture
def user_client():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory())
    return client


def in_view(error):
    """The home view's first query fails."""
    return mock.patch("apps.core.views.granted_applications", side_effect=error)


def in_middleware(error):
    """The session gatekeeping middleware's user check fails (before any view runs)."""
    return mock.patch("apps.accounts.two_factor.needs_verification", side_effect=error)


@pytest.mark.parametrize("where", [in_view, in_middleware])
@pytest.mark.parametrize("error", [DOWN, InterfaceError("connection already closed")])
def test_a_page_gets_the_503_page_that_reloads_itself(user_client, where, error, caplog):
    with where(error):
        response = user_client.get("/", HTTP_ACCEPT="text/html,*/*;q=0.8")
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_UNAVAILABLE_RETRY_AFTER_S)
    assert response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    assert TITLE in body and REFRESH in body
    assert "Server error" not in body and "My Account" not in body
    assert "Content-Security-Policy" in response.headers
    # One warning line naming the request; no error with a traceback.
    records = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert [r.getMessage().split(":")[0] for r in records] == ["database unavailable during GET /"]
    assert all(r.levelname != "ERROR" and not r.exc_info for r in caplog.records)


def test_the_503_page_is_rendered_without_a_query(django_assert_num_queries):
    from django.test import RequestFactory

    from apps.core.unavailable import database_unavailable_response

    request = RequestFactory().get("/console/")
    with django_assert_num_queries(0):
        response = database_unavailable_response(request, DOWN)
    assert response.status_code == 503 and TITLE in response.content.decode()


def test_a_form_sent_during_the_outage_is_not_sent_again_by_itself(user_client):
    with in_view(DOWN):
        response = user_client.post("/", {"anything": "1"})
    assert response.status_code == 503
    body = response.content.decode()
    assert TITLE in body and "may not have been saved" in body
    assert "http-equiv" not in body


@pytest.mark.parametrize(
    ("where", "path", "accept"),
    [
        (in_view, "/", "application/json"),
        (in_middleware, "/", "application/json"),
        (in_middleware, "/live/agency/events", "*/*"),
        (in_middleware, "/api/v1/incidents/", "*/*"),
    ],
)
def test_json_and_api_requests_get_a_503_problem(user_client, where, path, accept):
    with where(DOWN):
        response = user_client.get(path, HTTP_ACCEPT=accept)
    assert response.status_code == 503, response.content[:200]
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response["Retry-After"] == str(DATABASE_UNAVAILABLE_RETRY_AFTER_S)
    problem = response.json()
    assert (problem["status"], problem["title"]) == (503, "Service Unavailable")


def test_other_errors_still_get_the_generic_500_page(user_client):
    with in_view(RuntimeError("a bug")):
        response = user_client.get("/")
    assert response.status_code == 500
    assert "Server error" in response.content.decode()
    assert "Retry-After" not in response
