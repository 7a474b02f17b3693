"""Forgot password (mail through a real SMTP server), single-use expiring links, change password."""

from __future__ import annotations

import html
import re
import socket
from datetime import datetime, timedelta
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory, login_verified

RESET = "/accounts/password/reset/"
NEW_PASSWORD = "Quiet-Meadow-Signal-58"
INVALID_LINK = "This link does not work"

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


def reset_link_from(smtp_server, settings) -> str:
    """The reset link, found in both the plain-text and the HTML part of the last mail."""
    message = smtp_server.messages[-1]
    pattern = re.escape(settings.SITE_URL) + r"/accounts/reset/[\w-]+/[\w-]+/"
    plain = re.findall(pattern, smtp_server.body(message, "plain"))
    rich = re.findall(pattern, smtp_server.body(message, "html"))
    assert plain and rich and plain[0] == rich[0]
    return plain[0]


def request_reset(client: Client, email: str):
    return client.post(RESET, {"email": email})


def set_new_password(client: Client, link: str, password: str):
    """Open the link like a browser, then submit the form; returns the last response."""
    response = client.get(urlsplit(link).path)
    if response.status_code != 302:
        return response
    form_url = response["Location"]
    assert "set-password" in form_url  # the token itself is kept out of the address bar
    page = client.get(form_url)
    assert page.status_code == 200
    return client.post(form_url, {"new_password1": password, "new_password2": password})


def test_reset_mail_goes_through_real_smtp_and_the_link_works_exactly_once(
    client, smtp_server, settings
):
    user = UserFactory(full_name="Dana Whitfield")
    response = request_reset(client, user.email.upper())
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert "If an account uses that address" in text(client.get(response["Location"]))

    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == user.email
    assert smtp_server.envelopes[0].rcpt_tos == [user.email]
    assert "password" in message["Subject"].lower()
    assert message.get_content_type() == "multipart/alternative"
    assert "Dana Whitfield" in smtp_server.body(message, "plain")
    link = reset_link_from(smtp_server, settings)

    response = set_new_password(client, link, NEW_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(DEFAULT_PASSWORD)

    # Second use: refused, password unchanged.
    again = Client()
    response = again.get(urlsplit(link).path)
    assert response.status_code == 400
    assert INVALID_LINK in text(response)
    assert set_new_password(Client(), link, "Another-Sturdy-Phrase-77").status_code == 400
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)

    login = Client().post("/accounts/login/", {"email": user.email, "password": NEW_PASSWORD})
    assert login.status_code == 302
    actions = set(
        AuditEvent.objects.filter(target_id=str(user.pk)).values_list("action", flat=True)
    )
    assert {"auth.password_reset_requested", "auth.password_reset", "auth.login"} <= actions


def test_unknown_or_inactive_address_gets_the_same_page_and_no_mail(client, smtp_server):
    inactive = UserFactory(is_active=False)
    known = UserFactory()
    pages = []
    for email in ("nobody@example.org", inactive.email, known.email):
        response = request_reset(client, email)
        assert response.status_code == 302
        assert response["Location"] == "/accounts/password/reset/sent/"
        pages.append(text(client.get(response["Location"])))
    assert pages[0] == pages[1] == pages[2]
    assert [m["To"] for m in smtp_server.messages] == [known.email]


def test_invited_account_without_a_password_gets_a_link_to_choose_one(
    client, smtp_server, settings
):
    """An invitation expires after PASSWORD_RESET_TIMEOUT; "Forgot password?" must then
    send the invited user a new link (it used to send nothing and record "account: none",
    although the account exists and its invitation tells them to use it)."""
    invited = UserFactory()
    invited.set_unusable_password()
    invited.save()
    response = request_reset(client, invited.email)
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert [m["To"] for m in smtp_server.messages] == [invited.email]
    event = AuditEvent.objects.get(action="auth.password_reset_requested")
    assert event.target_id == str(invited.pk) and event.details == {"by": "self"}

    assert (
        set_new_password(client, reset_link_from(smtp_server, settings), NEW_PASSWORD)["Location"]
        == "/accounts/reset/done/"
    )
    invited.refresh_from_db()
    assert invited.check_password(NEW_PASSWORD)


def test_platform_admin_sent_reset_is_not_called_the_agency_super_user(smtp_server, rf):
    from apps.accounts.auth_services import send_password_reset

    officer = UserFactory()
    admin = UserFactory(platform_admin=True)
    send_password_reset(user=officer, requested_by=admin, request=rf.post("/"))
    for part in ("plain", "html"):
        body = html.unescape(smtp_server.body(smtp_server.messages[0], part))
        assert f"{admin.email}, a ShotSpotter Open platform administrator" in body
        assert "your agency's super user" not in body
    event = AuditEvent.objects.get(action="auth.password_reset_requested")
    assert event.actor == admin and event.details == {"by": "platform_admin"}


def test_reset_mails_to_one_address_are_capped_per_hour(client, smtp_server, settings):
    settings.PASSWORD_RESET_MAIL_LIMIT = 2
    user = UserFactory()
    for _ in range(4):
        response = request_reset(client, user.email)
        assert response["Location"] == "/accounts/password/reset/sent/"
    assert len(smtp_server.messages) == 2
    assert AuditEvent.objects.filter(action="auth.password_reset_throttled").count() == 2
    later = timezone.now() + timedelta(seconds=3601)
    with mock.patch("django.utils.timezone.now", return_value=later):
        request_reset(client, user.email)
    assert len(smtp_server.messages) == 3


def test_mail_server_down_still_shows_the_same_page(client, settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    response = request_reset(client, UserFactory().email)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"


def test_malformed_email_is_refused_with_a_clear_error(client, smtp_server):
    response = request_reset(client, "not an address")
    assert response.status_code == 400
    assert "Enter a valid email address." in text(response)
    assert smtp_server.messages == []


def test_weak_passwords_are_refused_with_reasons_and_change_nothing(client, smtp_server, settings):
    user = UserFactory(email="dana.whitfield@example.org")
    request_reset(client, user.email)
    link = reset_link_from(smtp_server, settings)
    form_url = client.get(urlsplit(link).path)["Location"]
    cases = {
        "short1": "This password is too short. It must contain at least 12 characters.",
        "password1234": "This password is too common.",
        "837261548391": "This password is entirely numeric.",
        "dana.whitfield": "The password is too similar to the e-mail address.",
    }
    for weak, reason in cases.items():
        response = client.post(form_url, {"new_password1": weak, "new_password2": weak})
        assert response.status_code == 400, weak
        assert reason in text(response), weak
    mismatch = client.post(
        form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"}
    )
    assert mismatch.status_code == 400
    assert "The two password fields didn" in text(mismatch)
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    # The link still works after the refusals.
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_expired_link_is_refused(client, smtp_server, settings):
    user = UserFactory()
    request_reset(client, user.email)
    link = reset_link_from(smtp_server, settings)
    now = datetime.now()

    late = now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 5)
    with mock.patch.object(PasswordResetTokenGenerator, "_now", return_value=late):
        response = Client().get(urlsplit(link).path)
        assert response.status_code == 400
        assert INVALID_LINK in text(response)
        assert set_new_password(Client(), link, NEW_PASSWORD).status_code == 400

    just_in_time = now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT - 60)
    with mock.patch.object(PasswordResetTokenGenerator, "_now", return_value=just_in_time):
        assert set_new_password(Client(), link, NEW_PASSWORD).status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_tampered_links_are_refused(client):
    user, other = UserFactory(), UserFactory()
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    other_uid = urlsafe_base64_encode(force_bytes(other.pk))
    token = default_token_generator.make_token(user)
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    for path in (
        f"/accounts/reset/{uid}/{flipped}/",  # token changed
        f"/accounts/reset/{other_uid}/{token}/",  # someone else's account
        f"/accounts/reset/{uid}/{token[:-3]}/",  # truncated
        f"/accounts/reset/bm9wZQ/{token}/",  # uid that is not a number
        f"/accounts/reset/{uid}/set-password/",  # no token in the session
    ):
        response = client.get(path)
        assert response.status_code == 400, path
        assert INVALID_LINK in text(response)
        posted = client.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
        assert posted.status_code == 400, path
    user.refresh_from_db()
    other.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD) and other.check_password(DEFAULT_PASSWORD)
    assert not AuditEvent.objects.filter(action="auth.password_reset").exists()


def test_link_of_a_deactivated_account_is_refused(client):
    user = UserFactory()
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    user.is_active = False
    user.save()
    response = client.get(f"/accounts/reset/{uid}/{token}/")
    assert response.status_code == 400


def test_forged_reset_posts_without_csrf_are_refused(smtp_server, settings):
    user = UserFactory()
    forged = Client(enforce_csrf_checks=True)
    assert forged.post(RESET, {"email": user.email}).status_code == 403
    assert smtp_server.messages == []

    Client().post(RESET, {"email": user.email})
    link = reset_link_from(smtp_server, settings)
    victim = Client(enforce_csrf_checks=True)
    form_url = victim.get(urlsplit(link).path)["Location"]
    response = victim.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_super_user_sent_reset_names_them_in_mail_and_audit(smtp_server, settings, rf):
    from apps.accounts.auth_services import send_password_reset

    officer = UserFactory()
    boss = UserFactory(super_user=True, agency=officer.agency)
    send_password_reset(user=officer, requested_by=boss, request=rf.post("/"))
    assert boss.email in smtp_server.body(smtp_server.messages[0], "plain")
    event = AuditEvent.objects.get(action="auth.password_reset_requested")
    assert event.actor == boss and event.target_id == str(officer.pk)
    assert event.agency == officer.agency


# --- Change password (logged in) -------------------------------------------------------


def test_change_password_needs_the_old_one_and_strong_new_one(client):
    user = UserFactory()
    other_session = Client()
    other_session.force_login(user)
    client.force_login(user)
    url = "/accounts/my-account/password/"
    assert client.get(url).status_code == 200

    wrong_old = client.post(
        url,
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong_old.status_code == 400
    assert "Your old password was entered incorrectly" in text(wrong_old)
    weak = client.post(
        url, {"old_password": DEFAULT_PASSWORD, "new_password1": "abc", "new_password2": "abc"}
    )
    assert weak.status_code == 400
    assert "This password is too short" in text(weak)
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert not AuditEvent.objects.filter(action="auth.password_changed").exists()

    done = client.post(
        url,
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.get("/").status_code == 200  # this session continues
    assert other_session.get("/").status_code == 302  # other sessions end
    assert AuditEvent.objects.filter(action="auth.password_changed", actor=user).count() == 1


def test_change_password_keeps_two_factor_verification(client):
    user = UserFactory(super_user=True)
    login_verified(client, user)
    response = client.post(
        "/accounts/my-account/password/",
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert client.get("/accounts/my-account/").status_code == 200


def test_change_password_requires_login(client):
    response = client.get("/accounts/my-account/password/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_forged_change_password_without_csrf_is_refused():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        "/accounts/my-account/password/",
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
