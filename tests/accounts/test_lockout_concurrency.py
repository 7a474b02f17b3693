"""Concurrent failed log-ins over real HTTP against PostgreSQL: no failure lost, one lock."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from apps.accounts.models import LoginThrottle
from apps.audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _failed_login(url: str, email: str, barrier: threading.Barrier) -> int:
    try:
        session = requests.Session()
        page = session.get(url, timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        barrier.wait(timeout=10)
        reply = session.post(
            url,
            data={"csrfmiddlewaretoken": token, "email": email, "password": "wrong-password"},
            headers={"Referer": url},
            timeout=30,
        )
        return reply.status_code
    finally:
        connection.close()


def test_parallel_failures_are_all_counted_and_lock_once(live_server, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_IP_FAILURE_LIMIT = 1000
    user = UserFactory()
    url = live_server.url + "/accounts/login/"
    threads = 12
    barrier = threading.Barrier(threads)
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(lambda _: _failed_login(url, user.email, barrier), range(threads)))
    assert set(statuses) <= {400, 429}
    row = LoginThrottle.objects.get(scope="account", key=user.email)
    # Failures after the lock are refused without counting; none before it are lost.
    assert row.failures == 5 and row.locked_until is not None
    assert AuditEvent.objects.filter(action="account.locked").count() == 1
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == threads
    assert statuses.count(400) <= 4  # the 5th and all later attempts say "locked"
    session = requests.Session()
    page = session.get(url, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    reply = session.post(
        url,
        data={"csrfmiddlewaretoken": token, "email": user.email, "password": DEFAULT_PASSWORD},
        headers={"Referer": url},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 429
