"""Event streams against the real ASGI application (WebsocketCommunicator)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from apps.accounts.models import Application, Role
from apps.realtime import services
from apps.realtime.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from apps.realtime.models import Audience, RealtimeEvent
from shotspotter.asgi import application
from tests.factories import AgencyFactory, UserFactory, add_totp_device, login_verified

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(user=None, *, verified=False) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://testserver")]
    if user is None:
        return headers
    client = Client()
    if verified:
        login_verified(client, user)
    else:
        client.force_login(user)  # password only, no second factor
    return headers + [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


def _emit_agency(agency, kind="incident.published", **payload) -> RealtimeEvent:
    with transaction.atomic():
        return services.emit(
            kind=kind, audience=Audience.AGENCY, agency_id=agency.pk, payload=payload
        )


async def _connect(path: str, headers):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


def test_agency_user_receives_own_agency_events_live_and_not_others():
    agency, other = AgencyFactory(), AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])

    headers = _session_cookie(officer)

    async def scenario():
        ws, connected, _ = await _connect("/ws/agency/", headers)
        assert connected
        await database_sync_to_async(_emit_agency)(other, number=1)
        mine = await database_sync_to_async(_emit_agency)(agency, number=2)
        message = await ws.receive_json_from(timeout=3)
        assert message["id"] == mine.pk and message["payload"] == {"number": 2}
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_reconnect_catches_up_every_missed_event_exactly_once():
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.SIREN])
    seen = _emit_agency(agency, number=1)
    missed = [_emit_agency(agency, number=n) for n in (2, 3, 4)]

    headers = _session_cookie(officer)

    async def scenario():
        ws, connected, _ = await _connect(f"/ws/agency/?after={seen.pk}", headers)
        assert connected
        got = [await ws.receive_json_from(timeout=3) for _ in missed]
        assert [m["id"] for m in got] == [e.pk for e in missed]
        # A live event after the catch-up arrives once; asking again repeats nothing.
        live = await database_sync_to_async(_emit_agency)(agency, number=5)
        assert (await ws.receive_json_from(timeout=3))["id"] == live.pk
        await ws.send_json_to({"type": "catch_up", "after": seen.pk})
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize(
    "make_user",
    [
        pytest.param(lambda agency: None, id="logged-out"),
        pytest.param(lambda agency: UserFactory(agency=agency, applications=[]), id="no-access"),
        pytest.param(
            lambda agency: UserFactory(
                role=Role.AGENCY_SUPER_USER, agency=agency, applications=[Application.SIREN]
            ),
            id="unverified-super-user",
        ),
        pytest.param(
            lambda agency: _with_own_authenticator(
                UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
            ),
            id="unverified-police-user-with-own-authenticator",
        ),
    ],
)
def test_refused_connections(make_user):
    agency = AgencyFactory()
    headers = _session_cookie(make_user(agency))

    async def scenario():
        ws, connected, code = await _connect("/ws/agency/", headers)
        assert not connected
        assert code in (CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN)
        # End the refused consumer cleanly (a cancelled Redis receive at loop shutdown can hang).
        await ws.disconnect()

    async_to_sync(scenario)()


def _with_own_authenticator(user):
    """A police user whose agency does not require two-factor login, who enrolled an
    app anyway: the HTTP pages then ask for a code (two_factor.needs_verification)."""
    add_totp_device(user)
    return user


def test_a_voluntary_authenticator_is_asked_for_on_the_stream_as_on_the_pages():
    agency = AgencyFactory()
    officer = _with_own_authenticator(
        UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    )
    password_only = Client()
    password_only.force_login(officer)
    assert password_only.get("/live/agency/events?after=0").status_code == 302  # code page
    unverified, verified = _session_cookie(officer), _session_cookie(officer, verified=True)

    async def scenario():
        ws, connected, code = await _connect("/ws/agency/", unverified)
        assert not connected and code == CLOSE_FORBIDDEN
        await ws.disconnect()
        ws, connected, _ = await _connect("/ws/agency/", verified)
        assert connected
        mine = await database_sync_to_async(_emit_agency)(agency, number=3)
        assert (await ws.receive_json_from(timeout=3))["id"] == mine.pk
        await ws.disconnect()

    async_to_sync(scenario)()


def test_permission_is_rechecked_for_every_event():
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    headers = _session_cookie(officer)

    async def scenario():
        ws, connected, _ = await _connect("/ws/agency/", headers)
        assert connected
        await database_sync_to_async(officer.application_grants.all().delete)()
        await database_sync_to_async(_emit_agency)(agency, number=9)
        output = await ws.receive_output(timeout=3)
        assert output == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}

    async_to_sync(scenario)()


def test_review_stream_is_for_verified_review_staff_only():
    reviewer = UserFactory(role=Role.IRC_REVIEWER, agency=None)
    officer = UserFactory(agency=AgencyFactory(), applications=list(Application.values))

    verified_reviewer = _session_cookie(reviewer, verified=True)
    refused = [_session_cookie(reviewer), _session_cookie(officer, verified=True)]

    async def scenario():
        ws, connected, _ = await _connect("/ws/review/", verified_reviewer)
        assert connected
        event = await database_sync_to_async(
            lambda: services.emit(kind="review.queued", audience=Audience.REVIEW, payload={})
        )()
        assert (await ws.receive_json_from(timeout=3))["id"] == event.pk
        await ws.disconnect()
        for headers in refused:
            refused_ws, connected, _ = await _connect("/ws/review/", headers)
            assert not connected
            await refused_ws.disconnect()  # end the refused consumer cleanly

    async_to_sync(scenario)()


def test_emit_is_pushed_only_after_commit_and_not_at_all_on_rollback():
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    headers = _session_cookie(officer)

    async def scenario():
        ws, connected, _ = await _connect("/ws/agency/", headers)
        assert connected

        def rolled_back():
            with pytest.raises(RuntimeError), transaction.atomic():
                _emit_agency(agency, number=1)
                raise RuntimeError("writer failed")

        await database_sync_to_async(rolled_back)()
        assert await ws.receive_nothing(timeout=0.3)
        assert not await database_sync_to_async(RealtimeEvent.objects.exists)()
        await ws.disconnect()

    async_to_sync(scenario)()


def test_emit_refuses_unknown_audience_and_agency_events_without_agency():
    with pytest.raises(ValueError):
        services.emit(kind="x", audience="everyone", payload={})
    with pytest.raises(ValueError):
        services.emit(kind="x", audience=Audience.AGENCY, payload={})


def test_malformed_catch_up_requests_are_ignored_not_fatal():
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    first = _emit_agency(agency, number=1)
    headers = _session_cookie(officer)

    async def scenario():
        # A garbage ?after= counts as "from the start": the stored event still arrives.
        ws, connected, _ = await _connect("/ws/agency/?after=not-a-number", headers)
        assert connected
        assert (await ws.receive_json_from(timeout=3))["id"] == first.pk
        for bad in ({"type": "catch_up", "after": "x"}, {"type": "catch_up", "after": -5}, [1]):
            await ws.send_json_to(bad)
        assert await ws.receive_nothing(timeout=0.3)
        # The connection is still open and live.
        live = await database_sync_to_async(_emit_agency)(agency, number=2)
        assert (await ws.receive_json_from(timeout=3))["id"] == live.pk
        await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.redis
@pytest.mark.slow
def test_an_idle_stream_outlives_the_channel_layers_blocking_read():
    """channels_redis blocks 5 s per read; a Redis socket timeout of the same 5 s (redis-py's
    default) killed idle consumers, closing every quiet websocket after a few seconds."""
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    headers = _session_cookie(officer)

    async def scenario():
        ws, connected, _ = await _connect("/ws/agency/", headers)
        assert connected
        assert await ws.receive_nothing(timeout=12)  # two blocking reads and then some
        event = await database_sync_to_async(_emit_agency)(agency, number=1)
        assert (await ws.receive_json_from(timeout=3))["id"] == event.pk
        await ws.disconnect()

    async_to_sync(scenario)()
