"""The agency stream the portal pages listen to, against the real ASGI application."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts.models import Application
from apps.portal import services
from apps.realtime.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from apps.realtime.models import RealtimeEvent
from shotspotter.asgi import application
from tests.factories import AgencyFactory, UserFactory
from tests.portal.support import comment, published_incident

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user=None):
    headers = [(b"origin", b"http://testserver")]
    if user is None:
        return headers
    client = Client()
    client.force_login(user)
    return headers + [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def _connect(headers, after=None):
    path = "/ws/agency/" + (f"?after={after}" if after is not None else "")
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await ws.connect()
    return ws, connected, code


@pytest.mark.parametrize(
    "make_user",
    [
        pytest.param(lambda agency: None, id="logged-out"),
        pytest.param(
            lambda agency: UserFactory(
                agency=agency,
                applications=[Application.INVESTIGATOR_PORTAL, Application.BRIEFING_ROOM],
            ),
            id="no-siren-or-console",
        ),
        pytest.param(lambda agency: UserFactory(irc_reviewer=True), id="review-staff"),
    ],
)
def test_stream_refuses_users_without_live_access(make_user):
    headers = _headers(make_user(AgencyFactory()))

    async def scenario():
        ws, connected, code = await _connect(headers)
        assert not connected
        assert code in (CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN)
        # End the refused consumer cleanly (a cancelled Redis receive at loop shutdown can hang).
        await ws.disconnect()

    async_to_sync(scenario)()


def test_other_agency_hears_nothing_of_a_published_incident():
    agency, other = AgencyFactory(), AgencyFactory()
    stranger = UserFactory(agency=other, applications=[Application.SIREN])
    officer = UserFactory(agency=agency, applications=[Application.SIREN])

    async def scenario():
        theirs, connected, _ = await _connect(_headers_stranger)
        assert connected
        mine, connected, _ = await _connect(_headers_officer)
        assert connected
        incident = await database_sync_to_async(published_incident)(agency)
        message = await mine.receive_json_from(timeout=3)
        assert message["kind"] == "incident.published"
        assert message["incident_id"] == incident.pk
        assert message["payload"]["url"] == f"/incident/{agency.system_id}/{incident.number}"
        assert await theirs.receive_nothing(timeout=0.3)
        await mine.disconnect()
        await theirs.disconnect()

    _headers_stranger, _headers_officer = _headers(stranger), _headers(officer)
    async_to_sync(scenario)()


def test_reconnect_catches_up_each_missed_event_exactly_once():
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    headers = _headers(officer)
    first = published_incident(agency)
    seen = RealtimeEvent.objects.filter(agency=agency).latest("id").pk

    # While the browser was away: a comment, a new incident, someone opening the first.
    comment(first, "Two vehicles leaving southbound")
    second = published_incident(agency)
    services.mark_opened(
        user=UserFactory(agency=agency, applications=[Application.SIREN]), incident=first
    )
    missed = list(
        RealtimeEvent.objects.filter(agency=agency, id__gt=seen).values_list("id", "kind")
    )
    assert [kind for _, kind in missed] == [
        "incident.comment",
        "incident.published",
        "incident.opened",
    ]

    async def scenario():
        ws, connected, _ = await _connect(headers, after=seen)
        assert connected
        got = [await ws.receive_json_from(timeout=3) for _ in missed]
        assert [(m["id"], m["kind"]) for m in got] == missed
        assert got[1]["incident_id"] == second.pk
        assert await ws.receive_nothing(timeout=0.3)
        # Asking again (the page's periodic resync) repeats nothing.
        await ws.send_json_to({"type": "catch_up", "after": seen})
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_opening_is_broadcast_to_the_agency_once_per_user():
    agency = AgencyFactory()
    watcher = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    opener = UserFactory(
        agency=agency, full_name="Dana Opener", applications=[Application.ALERT_CONSOLE]
    )
    incident = published_incident(agency)
    headers = _headers(watcher)
    browser = Client()
    browser.force_login(opener)
    url = f"/console/incident/{agency.system_id}/{incident.number}"

    async def scenario():
        after = await database_sync_to_async(
            lambda: RealtimeEvent.objects.filter(agency=agency).latest("id").pk
        )()
        ws, connected, _ = await _connect(headers, after=after)
        assert connected
        response = await database_sync_to_async(browser.get)(url)
        assert response.status_code == 200
        message = await ws.receive_json_from(timeout=3)
        assert message["kind"] == "incident.opened"
        assert message["incident_id"] == incident.pk
        assert message["payload"]["user_id"] == opener.pk
        assert message["payload"]["user"] == "Dana Opener"
        # Opening it again (reload, second tab) broadcasts nothing new.
        await database_sync_to_async(browser.get)(url)
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_mark_opened_refuses_another_agencys_incident():
    incident = published_incident(AgencyFactory())
    stranger = UserFactory(agency=AgencyFactory(), applications=[Application.ALERT_CONSOLE])
    with pytest.raises(ValueError):
        services.mark_opened(user=stranger, incident=incident)
    assert not RealtimeEvent.objects.filter(kind="incident.opened").exists()
