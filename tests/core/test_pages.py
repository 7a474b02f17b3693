import pytest
from django.urls import resolve

from apps.accounts.models import Application
from tests.factories import UserFactory


@pytest.mark.django_db
def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_home_requires_login_and_pages_carry_version_and_csp(client, settings):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    login = client.get(response["Location"])
    assert login.status_code == 200
    assert settings.APP_VERSION in login.content.decode()
    assert "default-src 'self'" in login["Content-Security-Policy"]


@pytest.mark.django_db
def test_unknown_api_path_gets_problem_json(client):
    response = client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


@pytest.mark.django_db
def test_home_links_each_granted_application_to_its_real_page(client):
    officer = UserFactory(applications=[Application.ALERT_CONSOLE, Application.BRIEFING_ROOM])
    client.force_login(officer)
    page = client.get("/").content.decode()
    assert 'href="/console/"' in page and 'href="/briefing-room/"' in page
    # Not granted: named, not linked.
    assert 'href="/investigator/"' not in page and 'href="/siren/"' not in page
    assert resolve("/console/").view_name == "portal:console"
    assert resolve("/investigator/").view_name == "portal:investigator"
    assert resolve("/siren/").view_name == "portal:siren"
    assert resolve("/briefing-room/").view_name == "briefing:index"
    assert client.get("/console/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/agency/users/", "/alerts/agency/webhooks/", "/privacy/audit.csv"]
)
def test_a_refusal_says_why(client, path):
    """The 403 page said only "Forbidden: You do not have permission to do that." and
    dropped the reason the code gives, so an officer opening an agency page (a link from
    a colleague) could not tell that it needs an agency super user."""
    from tests.factories import login_as

    login_as(client, UserFactory(applications=[Application.SIREN]))
    response = client.get(path)
    assert response.status_code == 403
    body = response.content.decode()
    assert "Agency administration is for agency super users." in body
    assert "You do not have permission to do that." not in body
