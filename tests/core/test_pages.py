import pytest


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
