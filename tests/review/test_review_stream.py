"""The review stream pushes queue changes to every connected reviewer (real ASGI app)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts.models import Application
from apps.realtime.consumers import CLOSE_FORBIDDEN
from apps.review import services
from shotspotter.asgi import application
from tests.factories import AgencyFactory, UserFactory, login_verified
from tests.review.support import area_with_beat, make_incident

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user, *, verified=True):
    client = Client()
    if verified:
        login_verified(client, user)
    else:
        client.force_login(user)
    return [
        (b"origin", b"http://testserver"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]


async def _connect(path, headers):
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await ws.connect()
    return ws, connected, code


async def _next_of(ws, kind):
    """The next event of this kind (skipping other kinds), within the timeout."""
    while True:
        message = await ws.receive_json_from(timeout=5)
        if message["kind"] == kind:
            return message


def test_queued_claimed_and_decided_reach_every_connected_reviewer():
    agency = AgencyFactory()
    area = area_with_beat(agency=agency)
    alice = UserFactory(irc_reviewer=True, full_name="Alice Reviewer")
    bob = UserFactory(irc_reviewer=True, full_name="Bob Reviewer")
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    headers = {u: _headers(u) for u in (alice, bob)}
    officer_headers = _headers(officer, verified=False)

    def arrive():
        incident = make_incident(area=area, rounds=2)
        services.on_incident_pending(incident.pk)
        return incident

    async def scenario():
        streams = []
        for user in (alice, bob):
            ws, connected, _ = await _connect("/ws/review/", headers[user])
            assert connected
            streams.append(ws)
        agency_ws, connected, _ = await _connect("/ws/agency/", officer_headers)
        assert connected

        incident = await database_sync_to_async(arrive)()
        for ws in streams:
            queued = await _next_of(ws, "review.queued")
            assert queued["incident_id"] == incident.pk
            assert queued["payload"]["rounds"] == 2 and queued["payload"]["claimed_by"] is None

        await database_sync_to_async(services.claim_next)(reviewer=alice)
        for ws in streams:
            claimed = await _next_of(ws, "review.claimed")
            assert claimed["incident_id"] == incident.pk
            assert claimed["payload"]["claimed_by"] == "Alice Reviewer"

        await database_sync_to_async(services.decide)(
            reviewer=alice, incident_id=incident.pk, decision="multiple_gunshots", rounds=2
        )
        for ws in streams:
            decided = await _next_of(ws, "review.decided")
            assert decided["incident_id"] == incident.pk
            assert decided["payload"]["status"] == "published"
            assert decided["payload"]["decision"] == "multiple_gunshots"

        # The agency hears of the publication only, never of the queue.
        published = await agency_ws.receive_json_from(timeout=5)
        assert published["kind"] == "incident.published"
        assert published["payload"]["url"] == f"/incident/{agency.system_id}/{incident.number}"
        assert await agency_ws.receive_nothing(timeout=0.3)

        for ws in (*streams, agency_ws):
            await ws.disconnect()

    async_to_sync(scenario)()


def test_police_users_and_unverified_reviewers_cannot_open_the_review_stream():
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    reviewer = UserFactory(irc_reviewer=True)
    cases = [
        _headers(officer, verified=False),
        _headers(officer),
        _headers(reviewer, verified=False),
    ]

    async def scenario():
        for headers in cases:
            ws, connected, code = await _connect("/ws/review/", headers)
            assert not connected and code == CLOSE_FORBIDDEN
            await ws.disconnect()  # end the refused consumer cleanly

    async_to_sync(scenario)()
