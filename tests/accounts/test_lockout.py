"""Lockout after repeated failed log-ins: per account and per client IP, kept in the DB."""

from __future__ import annotations

import html
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import LoginThrottle
from apps.audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory

LOGIN = "/accounts/login/"
LOCKED = "Too many failed log-in attempts"
GENERIC_ERROR = "The e-mail address or password is not correct."

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 600
    settings.LOGIN_IP_FAILURE_LIMIT = 50


@contextmanager
def time_travel(delta: timedelta):
    target = timezone.now() + delta
    with mock.patch("django.utils.timezone.now", return_value=target):
        yield


def attempt(client: Client, email: str, password: str, ip: str = "127.0.0.1"):
    response = client.post(LOGIN, {"email": email, "password": password}, REMOTE_ADDR=ip)
    return response, html.unescape(response.content.decode())


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_account_locks_after_limit_and_refuses_even_the_right_password(client):
    user = UserFactory()
    for _ in range(2):
        response, body = attempt(client, user.email, "wrong-password")
        assert response.status_code == 400 and GENERIC_ERROR in body
    response, body = attempt(client, user.email, "wrong-password")
    assert response.status_code == 429
    assert LOCKED in body and "10 minutes" in body

    response, body = attempt(client, user.email, DEFAULT_PASSWORD)
    assert response.status_code == 429 and LOCKED in body
    assert not logged_in(client)

    locked = AuditEvent.objects.get(action="account.locked")
    assert locked.target_id == str(user.pk) and locked.agency == user.agency
    assert locked.details["failures"] == 3
    reasons = list(
        AuditEvent.objects.filter(action="auth.login_failed")
        .order_by("id")
        .values_list("details__reason", flat=True)
    )
    assert reasons == ["bad_credentials"] * 3 + ["locked"]


def test_lock_is_shared_across_clients_because_it_lives_in_the_database():
    user = UserFactory()
    for _ in range(3):
        attempt(Client(), user.email, "wrong-password")
    row = LoginThrottle.objects.get(scope=LoginThrottle.Scope.ACCOUNT, key=user.email)
    assert row.locked_until > timezone.now()
    response, _ = attempt(Client(), user.email, DEFAULT_PASSWORD)
    assert response.status_code == 429


def test_account_unlocks_after_the_lockout_period(client):
    user = UserFactory()
    for _ in range(3):
        attempt(client, user.email, "wrong-password")
    with time_travel(timedelta(seconds=599)):
        response, _ = attempt(client, user.email, DEFAULT_PASSWORD)
        assert response.status_code == 429
    with time_travel(timedelta(seconds=601)):
        response, _ = attempt(client, user.email, DEFAULT_PASSWORD)
        assert response.status_code == 302
        assert logged_in(client)
    assert not LoginThrottle.objects.filter(scope="account", key=user.email).exists()


def test_after_the_lock_expires_failures_count_from_zero(client):
    user = UserFactory()
    for _ in range(3):
        attempt(client, user.email, "wrong-password")
    with time_travel(timedelta(seconds=601)):
        response, body = attempt(client, user.email, "wrong-password")
        assert response.status_code == 400 and GENERIC_ERROR in body
        response, _ = attempt(client, user.email, DEFAULT_PASSWORD)
        assert response.status_code == 302


def test_successful_login_resets_the_count(client):
    user = UserFactory()
    attempt(client, user.email, "wrong-password")
    attempt(client, user.email, "wrong-password")
    response, _ = attempt(client, user.email, DEFAULT_PASSWORD)
    assert response.status_code == 302
    client.post("/accounts/logout/")
    attempt(client, user.email, "wrong-password")
    response, body = attempt(client, user.email, "wrong-password")
    assert response.status_code == 400 and LOCKED not in body
    response, _ = attempt(client, user.email, DEFAULT_PASSWORD)
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="account.locked").exists()


def test_failures_older_than_the_window_are_forgotten(client):
    user = UserFactory()
    attempt(client, user.email, "wrong-password")
    attempt(client, user.email, "wrong-password")
    with time_travel(timedelta(seconds=601)):
        response, body = attempt(client, user.email, "wrong-password")
        assert response.status_code == 400 and LOCKED not in body


def test_unknown_addresses_lock_the_same_way_so_nothing_is_revealed(client):
    user = UserFactory()
    real = [attempt(client, user.email, "wrong")[0].status_code for _ in range(4)]
    ghost = [attempt(client, "ghost@example.org", "wrong")[0].status_code for _ in range(4)]
    assert real == ghost == [400, 400, 429, 429]
    ghost_lock = AuditEvent.objects.get(action="account.locked", details__email="ghost@example.org")
    assert ghost_lock.target_id == "" and ghost_lock.agency is None


def test_lock_of_one_account_does_not_affect_another(client):
    victim, other = UserFactory(), UserFactory()
    for _ in range(3):
        attempt(client, victim.email, "wrong-password")
    response, _ = attempt(client, other.email, DEFAULT_PASSWORD)
    assert response.status_code == 302


def test_many_failures_from_one_ip_block_that_ip_only(settings):
    settings.LOGIN_IP_FAILURE_LIMIT = 4
    sprayed = [UserFactory() for _ in range(4)]
    target = UserFactory()
    for user in sprayed:  # one failure per account: no account lock, but the IP adds up
        response, _ = attempt(Client(), user.email, "Password1", ip="203.0.113.9")
    assert response.status_code == 429
    assert AuditEvent.objects.filter(action="auth.ip_locked", details__ip="203.0.113.9").exists()
    assert not AuditEvent.objects.filter(action="account.locked").exists()

    response, body = attempt(Client(), target.email, DEFAULT_PASSWORD, ip="203.0.113.9")
    assert response.status_code == 429 and LOCKED in body
    response, _ = attempt(Client(), target.email, DEFAULT_PASSWORD, ip="198.51.100.7")
    assert response.status_code == 302


def test_password_reset_lifts_the_lock(client):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = UserFactory()
    for _ in range(3):
        attempt(client, user.email, "wrong-password")
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    set_password_url = client.get(f"/accounts/reset/{uid}/{token}/")["Location"]
    new_password = "Quiet-Meadow-Signal-58"
    response = client.post(
        set_password_url, {"new_password1": new_password, "new_password2": new_password}
    )
    assert response.status_code == 302
    response, _ = attempt(client, user.email, new_password)
    assert response.status_code == 302


def test_stale_counters_are_purged_when_new_ones_are_made(client):
    user = UserFactory()
    attempt(client, user.email, "wrong-password")  # account + IP rows
    for _ in range(3):
        attempt(client, "locked@example.org", "wrong-password")
    # Window opened now, locked 300 s later: the lock outlives the window.
    attempt(client, "later@example.org", "wrong-password", ip="192.0.2.1")
    with time_travel(timedelta(seconds=300)):
        for _ in range(2):
            attempt(client, "later@example.org", "wrong-password", ip="192.0.2.1")
    assert LoginThrottle.objects.count() == 5
    with time_travel(timedelta(seconds=601)):
        attempt(client, "fresh@example.org", "wrong-password", ip="198.51.100.1")
    keys = set(LoginThrottle.objects.values_list("key", flat=True))
    assert user.email not in keys and "127.0.0.1" not in keys
    assert "locked@example.org" not in keys  # its lock is over too
    assert "later@example.org" in keys  # still locked until +900 s
    assert {"fresh@example.org", "198.51.100.1"} <= keys


def test_platform_admin_can_lift_a_lockout_in_the_admin(client):
    from tests.factories import login_verified

    user = UserFactory()
    for _ in range(3):
        attempt(Client(), user.email, "wrong-password")
    admin_user = UserFactory(platform_admin=True)
    login_verified(client, admin_user)
    changelist = "/platform-admin/accounts/user/"
    assert client.get(changelist).status_code == 200
    response = client.post(
        changelist, {"action": "unlock_log_in", "_selected_action": [user.pk], "index": 0}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="account.unlocked")
    assert event.actor == admin_user and event.details == {"was_locked": True}
    response, _ = attempt(Client(), user.email, DEFAULT_PASSWORD)
    assert response.status_code == 302
