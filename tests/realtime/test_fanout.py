"""One published incident reaches every connected portal client of its agency, and no other.

50 websocket clients (their own users and sessions) against the project's ASGI application;
the incident is published through the review center's real services. The 500-client
figures come from ``manage.py bench_realtime`` (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts.models import Application
from shotspotter.asgi import application
from tests.factories import AgencyFactory, UserFactory
from tests.portal.support import geography, pending_incident, publish

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 50


def _headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return [(b"origin", b"http://testserver"), (b"cookie", cookie)]


async def _connect(headers) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/agency/", headers=headers)
    connected, code = await communicator.connect(timeout=10)
    assert connected, code
    return communicator


def test_every_client_of_the_agency_receives_the_published_incident_once():
    agency, neighbour = AgencyFactory(), AgencyFactory()
    geography(agency)
    officers = [
        UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE]) for _ in range(CLIENTS)
    ]
    outsider = UserFactory(agency=neighbour, applications=list(Application.values))
    headers = [_headers(officer) for officer in officers]
    outsider_headers = _headers(outsider)
    incident = pending_incident(agency)

    async def scenario():
        clients = [await _connect(h) for h in headers]
        other = await _connect(outsider_headers)
        await database_sync_to_async(publish)(incident)

        async def published(ws) -> dict:
            while True:
                message = await ws.receive_json_from(timeout=30)
                if message["kind"] == "incident.published":
                    return message

        got = await asyncio.gather(*(published(ws) for ws in clients))
        assert len(got) == CLIENTS
        assert {m["incident_id"] for m in got} == {incident.pk}
        assert len({m["id"] for m in got}) == 1  # one stored event, fanned out
        assert got[0]["payload"]["number"] == incident.number
        # Nothing twice, and nothing at all for the other agency.
        for ws in clients[:5]:
            while not await ws.receive_nothing(timeout=0.2):
                message = await ws.receive_json_from()
                assert message["kind"] != "incident.published"
        assert await other.receive_nothing(timeout=1.0)
        for ws in clients + [other]:
            await ws.disconnect()

    async_to_sync(scenario)()
