"""GET /live/<stream>/events?after=<id>: the polling fallback of the websocket streams."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from apps.accounts.models import Application, Role
from apps.realtime import selectors, services
from apps.realtime.models import Audience, RealtimeEvent
from tests.factories import AgencyFactory, UserFactory, login_verified

pytestmark = pytest.mark.django_db

AGENCY_EVENTS = "/live/agency/events"
REVIEW_EVENTS = "/live/review/events"


def _emit_agency(agency, kind="incident.published", **payload) -> RealtimeEvent:
    with transaction.atomic():
        return services.emit(
            kind=kind, audience=Audience.AGENCY, agency_id=agency.pk, payload=payload
        )


def _client(user=None, *, verified=False) -> Client:
    client = Client()
    if user is not None and verified:
        login_verified(client, user)
    elif user is not None:
        client.force_login(user)
    return client


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"]
    assert "events" not in body
    return body


def test_agency_user_gets_own_events_after_the_given_id_oldest_first():
    agency, other = AgencyFactory(), AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    seen = _emit_agency(agency, number=1)
    _emit_agency(other, number=99, nearest_address="other agency's street")
    missed = [_emit_agency(agency, number=n) for n in (2, 3)]
    client = _client(officer)

    response = client.get(AGENCY_EVENTS, {"after": seen.pk})

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    body = response.json()
    assert [e["id"] for e in body["events"]] == [e.pk for e in missed]
    assert [e["payload"]["number"] for e in body["events"]] == [2, 3]
    # Same message shape as the websocket sends.
    assert body["events"][0] == {"type": "event", **missed[0].as_message()}
    assert body["more"] is False
    assert b"other agency" not in response.content
    # From the start: every own event; after the last: nothing.
    assert len(client.get(AGENCY_EVENTS, {"after": 0}).json()["events"]) == 3
    assert client.get(AGENCY_EVENTS, {"after": missed[-1].pk}).json()["events"] == []
    assert client.get(AGENCY_EVENTS, {"after": 2**63 - 1}).json()["events"] == []


def test_another_agency_sees_none_of_them():
    agency, other = AgencyFactory(), AgencyFactory()
    _emit_agency(agency, number=1, nearest_address="4242 Private Rd")
    stranger = UserFactory(agency=other, applications=list(Application.values))
    response = _client(stranger).get(AGENCY_EVENTS, {"after": 0})
    assert response.status_code == 200
    assert response.json() == {"events": [], "more": False}


def test_a_full_page_says_there_is_more():
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.SIREN])
    RealtimeEvent.objects.bulk_create(
        RealtimeEvent(audience=Audience.AGENCY, agency=agency, kind="incident.comment")
        for _ in range(selectors.CATCH_UP_LIMIT + 3)
    )
    client = _client(officer)
    first = client.get(AGENCY_EVENTS, {"after": 0}).json()
    assert len(first["events"]) == selectors.CATCH_UP_LIMIT and first["more"] is True
    rest = client.get(AGENCY_EVENTS, {"after": first["events"][-1]["id"]}).json()
    assert len(rest["events"]) == 3 and rest["more"] is False


@pytest.mark.parametrize(
    "query",
    [{}, {"after": ""}, {"after": "-1"}, {"after": "abc"}, {"after": "1.5"}, {"after": "٣"}]
    + [{"after": str(2**63)}, {"after": "1e3"}, {"after": " 1"}],
)
def test_bad_after_is_a_400_problem(query):
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    _emit_agency(agency, number=1)
    body = _assert_problem(_client(officer).get(AGENCY_EVENTS, query), 400)
    assert "after" in body["detail"]


def test_only_get():
    officer = UserFactory(agency=AgencyFactory(), applications=[Application.ALERT_CONSOLE])
    response = _client(officer).post(AGENCY_EVENTS + "?after=0")
    _assert_problem(response, 405)
    assert response["Allow"] == "GET, HEAD"


def test_logged_out_is_401_and_an_account_without_live_access_403():
    agency = AgencyFactory()
    _emit_agency(agency, number=1)
    _assert_problem(_client().get(AGENCY_EVENTS, {"after": 0}), 401)
    investigator = UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL])
    _assert_problem(_client(investigator).get(AGENCY_EVENTS, {"after": 0}), 403)


def test_permission_is_checked_on_every_poll():
    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    _emit_agency(agency, number=1)
    client = _client(officer)
    assert client.get(AGENCY_EVENTS, {"after": 0}).status_code == 200
    officer.application_grants.all().delete()
    _assert_problem(client.get(AGENCY_EVENTS, {"after": 0}), 403)
    officer.is_active = False
    officer.save()
    # A deactivated account's session no longer authenticates at all.
    _assert_problem(client.get(AGENCY_EVENTS, {"after": 0}), 401)


def test_a_super_user_must_pass_the_second_factor_first():
    agency = AgencyFactory()
    _emit_agency(agency, number=1, nearest_address="4242 Private Rd")
    boss = UserFactory(
        role=Role.AGENCY_SUPER_USER, agency=agency, applications=[Application.ALERT_CONSOLE]
    )
    unverified = _client(boss).get(AGENCY_EVENTS, {"after": 0})
    # The two-factor gate answers before the view: sent to the code page, no events.
    assert unverified.status_code == 302 and b"Private Rd" not in unverified.content
    verified = _client(boss, verified=True).get(AGENCY_EVENTS, {"after": 0})
    assert [e["payload"]["number"] for e in verified.json()["events"]] == [1]


def test_review_stream_is_for_verified_review_staff_only():
    event = services.emit(kind="review.queued", audience=Audience.REVIEW, payload={"n": 1})
    reviewer = UserFactory(role=Role.IRC_REVIEWER, agency=None)
    officer = UserFactory(agency=AgencyFactory(), applications=list(Application.values))
    body = _client(reviewer, verified=True).get(REVIEW_EVENTS, {"after": 0}).json()
    assert [e["id"] for e in body["events"]] == [event.pk]
    _assert_problem(_client(officer).get(REVIEW_EVENTS, {"after": 0}), 403)
    # Agency users never read the review stream through the agency endpoint either.
    assert _client(officer).get(AGENCY_EVENTS, {"after": 0}).json()["events"] == []
