"""``manage.py bench_realtime``: its argument checks, and its websocket client process against a
real daphne (the bench's own numbers come from ``make bench-realtime``, not from here)."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client

from apps.accounts.models import Application
from apps.realtime import services
from apps.realtime.management.commands.bench_realtime import ClientFleet
from apps.realtime.models import Audience
from tests.browser import DaphneServer, current_database_url
from tests.factories import AgencyFactory, UserFactory


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--clients=0", "must be positive"),
        ("--parallel=0", "must be positive"),
        ("--daphne=0", "must be positive"),
        ("--conn-max-age=-1", "must be >= 0"),
        ("--redis-db=16", "0..15"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(option, message):
    with pytest.raises(CommandError, match=message):
        call_command("bench_realtime", option, stdout=io.StringIO())


def _session(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_client_process_connects_with_sessions_and_reports_each_event():
    agency, other = AgencyFactory(), AgencyFactory()
    officers = [
        UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE]) for _ in range(3)
    ]
    outsider = UserFactory(agency=other, applications=[Application.ALERT_CONSOLE])
    env = {
        "DJANGO_SETTINGS_MODULE": "shotspotter.settings_test",
        "DATABASE_URL": current_database_url(),
    }
    with DaphneServer(env=env) as server:
        clients = [
            {"name": f"c{k}", "port": server.port, "session_key": _session(user)}
            for k, user in enumerate(officers)
        ]
        clients.append({"name": "outsider", "port": server.port, "session_key": _session(outsider)})
        clients.append({"name": "anonymous", "port": server.port, "session_key": "nope"})
        fleet = ClientFleet()
        try:
            connected, _, _ = fleet.open(
                path="/ws/agency/", clients=clients, parallel=2, timeout_s=20.0
            )
            # A session the server does not know is refused at the handshake.
            assert connected == {"c0", "c1", "c2", "outsider"}
            sent = time.monotonic()
            with transaction.atomic():
                event = services.emit(
                    kind="incident.published",
                    audience=Audience.AGENCY,
                    agency_id=agency.pk,
                    incident_id=42,
                    payload={"number": 42},
                )
            seen = {}
            deadline = time.monotonic() + 15
            while len(seen) < 3 and time.monotonic() < deadline:
                line = fleet.next_event(timeout_s=0.5)
                if line is not None:
                    seen[line["name"]] = line
            assert set(seen) == {"c0", "c1", "c2"}
            assert {(e["kind"], e["incident_id"]) for e in seen.values()} == {
                ("incident.published", 42)
            }
            assert all(sent <= e["at"] <= time.monotonic() for e in seen.values())
            assert fleet.next_event(timeout_s=1.0) is None  # the outsider got nothing
            closed = fleet.stop()
            assert closed == {"c0": None, "c1": None, "c2": None, "outsider": None}
            assert event.pk
        finally:
            fleet.kill()
