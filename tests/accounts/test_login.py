"""Log-in page: e-mail + password, generic errors, safe ``next``, POST-only log-out, CSRF."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from apps.accounts.models import Application, LoginThrottle
from apps.audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory

LOGIN = "/accounts/login/"
GENERIC_ERROR = "The e-mail address or password is not correct."

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


def normalized(response, email: str) -> str:
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text(response))
    return body.replace(email, "EMAIL")


def test_login_page_has_fields_forgot_password_link_and_csrf(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    body = text(response)
    assert 'name="email"' in body and 'type="password"' in body
    assert 'href="/accounts/password/reset/"' in body and "Forgot password?" in body
    assert "csrfmiddlewaretoken" in body


def test_login_page_answers_head_requests(client):
    assert client.head(LOGIN).status_code == 200


def test_right_password_logs_in_and_is_audited(client):
    user = UserFactory(applications=[Application.SIREN])
    response = client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert int(client.session["_auth_user_id"]) == user.pk
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor == user and event.agency == user.agency
    assert event.ip_address == "127.0.0.1"


def test_email_is_case_insensitive(client):
    user = UserFactory(email="officer.jones@example.org")
    response = client.post(
        LOGIN, {"email": "  Officer.Jones@EXAMPLE.org", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_wrong_password_and_unknown_account_look_the_same(client):
    user = UserFactory()
    wrong = client.post(LOGIN, {"email": user.email, "password": "not-the-password"})
    unknown = client.post(LOGIN, {"email": "nobody@example.org", "password": "not-the-password"})
    inactive_user = UserFactory(is_active=False)
    inactive = client.post(LOGIN, {"email": inactive_user.email, "password": DEFAULT_PASSWORD})
    for response in (wrong, unknown, inactive):
        assert response.status_code == 400
        assert GENERIC_ERROR in text(response)
        assert "_auth_user_id" not in client.session
    # The pages are identical apart from the echoed e-mail address and the CSRF token.
    assert normalized(wrong, user.email) == normalized(unknown, "nobody@example.org")
    assert normalized(wrong, user.email) == normalized(inactive, inactive_user.email)
    failures = AuditEvent.objects.filter(action="auth.login_failed")
    assert failures.count() == 3
    assert set(failures.values_list("details__email", flat=True)) == {
        user.email,
        "nobody@example.org",
        inactive_user.email,
    }


def test_malformed_email_is_refused_with_a_clear_error_and_counts_nothing(client):
    response = client.post(LOGIN, {"email": "officer at example", "password": "whatever"})
    assert response.status_code == 400
    assert "Enter a valid email address." in text(response)
    assert not LoginThrottle.objects.exists()
    assert not AuditEvent.objects.exists()


def test_missing_password_is_refused(client):
    user = UserFactory()
    response = client.post(LOGIN, {"email": user.email, "password": ""})
    assert response.status_code == 400
    assert "This field is required." in text(response)
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/siren/", "/siren/"),
        ("/siren/?incident=12345", "/siren/?incident=12345"),
        ("https://evil.example/steal", "/"),
        ("//evil.example/steal", "/"),
        ("http://testserver.evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_next_only_redirects_within_this_site(client, next_url, expected):
    user = UserFactory(applications=[Application.SIREN])
    response = client.post(
        f"{LOGIN}?next=x", {"email": user.email, "password": DEFAULT_PASSWORD, "next": next_url}
    )
    assert response.status_code == 302
    assert response["Location"] == expected


def test_protected_page_sends_to_login_and_back(client):
    user = UserFactory(applications=[Application.SIREN])
    response = client.get("/siren/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/siren/"
    page = client.get(response["Location"])
    assert 'name="next" value="/siren/"' in text(page)
    response = client.post(
        response["Location"], {"email": user.email, "password": DEFAULT_PASSWORD, "next": "/siren/"}
    )
    assert response["Location"] == "/siren/"
    assert client.get("/siren/").status_code == 200


def test_logout_needs_post_and_is_audited(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/").status_code == 200  # still logged in
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor=user).count() == 1


def test_forged_login_post_without_csrf_token_is_refused():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 403
    assert "security token" in text(response)
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.exists()


def test_login_with_csrf_token_from_the_page_works():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    response = client.post(
        LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_forged_logout_without_csrf_token_keeps_the_session():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/accounts/logout/").status_code == 403
    assert client.get("/").status_code == 200


def test_logged_in_user_visiting_login_goes_home(client):
    client.force_login(UserFactory())
    response = client.get(LOGIN)
    assert response.status_code == 302
    assert response["Location"] == "/"
