"""Every read of incident data by a dispatch system's token is audited under its agency;
a poller's unchanged answers are counted instead of repeated; no audio is reachable."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.evidence.models import PlaybackGrant
from apps.integrations import services
from apps.integrations.services import api_token_create
from tests.factories import UserFactory, login_verified
from tests.integrations.support import LIST, detail_url, published

pytestmark = pytest.mark.django_db

LISTED = "integrations.incidents_listed"
READ = "integrations.incident_read"


@pytest.fixture(autouse=True)
def _quiet(settings):
    settings.INTEGRATION_API_AUDIT_QUIET_S = 600


class Clock:
    """``timezone`` for ``apps.integrations.services``, ``offset`` ahead of the real one."""

    def __init__(self):
        self.offset = dt.timedelta()

    def now(self):
        return timezone.now() + self.offset


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(services, "timezone", clock)
    return clock


def events(action=None, agency=None):
    qs = AuditEvent.objects.filter(action__startswith="integrations.")
    qs = qs.exclude(action__in=["integrations.api_token_created"])
    if action:
        qs = qs.filter(action=action)
    if agency is not None:
        qs = qs.filter(agency=agency)
    return list(qs.order_by("occurred_at", "id"))


def test_each_read_that_delivers_data_is_audited_with_token_endpoint_query_and_incidents(
    api, token, agency, area
):
    first = published(area=area, decision="single_gunshot")
    second = published(area=area, decision="multiple_gunshots", rounds=4)

    reply = api(LIST, type="multiple_gunshots", page_size="20")
    assert reply.status_code == 200 and len(reply.json()["results"]) == 1
    (listed,) = events(LISTED)
    assert listed.agency == agency and listed.actor is None
    assert listed.target_type == "integrations.apitoken"
    assert listed.target_id == str(token.token.pk)
    assert listed.ip_address == "127.0.0.1"
    assert listed.details == {
        "api_token": {"name": "CAD east", "prefix": token.token.prefix},
        "endpoint": "/api/v1/incidents/",
        "query": {"type": "multiple_gunshots", "page_size": "20"},
        "incidents": 1,
        "references": [second.reference],
        "total": 1,
    }

    assert api(detail_url(agency.system_id, first.number)).status_code == 200
    (read,) = events(READ)
    assert read.details["endpoint"] == f"/api/v1/incidents/{agency.system_id}/{first.number}"
    assert read.details["references"] == [first.reference] and read.details["incidents"] == 1


def test_refused_requests_deliver_nothing_and_write_nothing(api, client, agency, area):
    published(area=area)
    assert client.get(LIST, HTTP_AUTHORIZATION="Bearer sso_nope.nope").status_code == 401
    assert api(LIST, page="0").status_code == 400
    assert api(LIST, status="pending").status_code == 400
    assert api(detail_url(agency.system_id, 999)).status_code == 404
    assert api(detail_url("999", 1)).status_code == 404
    assert events() == []


def test_odd_query_parameters_are_recorded_safely(api, area):
    """Unknown parameters are ignored by the API but recorded: at most 20, 200 chars
    each; a NUL (which PostgreSQL cannot store) is spelled out instead of a 500."""
    params = {f"p{i:02}": "x" * 500 for i in range(25)}
    params["p00"] = "a\x00b"
    assert api(LIST, **params).status_code == 200
    (event,) = events(LISTED)
    query = event.details["query"]
    assert len(query) == 20 and query["p00"] == "a\\0b"
    assert query["p01"] == "x" * 200


def test_a_poller_gets_one_entry_per_quiet_period_and_every_new_answer_at_once(
    api, agency, area, clock
):
    """A dispatch system polls every 10 s with ``since`` = its previous poll. Nothing
    new: one entry, then counted. New data: its own entry at once, which also says how
    many unchanged polls came before it. After the quiet period: an entry again."""
    start = timezone.now()

    def poll(i):
        clock.offset = dt.timedelta(seconds=10 * i)
        since = (start + dt.timedelta(seconds=10 * (i - 1))).isoformat()
        reply = api(LIST, since=since)
        assert reply.status_code == 200
        return [row["id"] for row in reply.json()["results"]]

    for i in range(30):  # five minutes of polls, nothing new
        assert poll(i) == []
    assert len(events(LISTED)) == 1
    incident = published(area=area, published_at=start + dt.timedelta(seconds=295))
    assert poll(30) == [incident.reference]
    first, delivered = events(LISTED)
    assert first.details["incidents"] == 0 and "repeats" not in first.details
    assert delivered.details["references"] == [incident.reference]
    assert delivered.details["repeats"]["count"] == 29
    assert delivered.details["repeats"]["first"] < delivered.details["repeats"]["last"]

    for i in range(31, 40):  # nothing new again: one entry (the answer changed), then counted
        assert poll(i) == []
    assert len(events(LISTED)) == 3
    assert poll(100) == []  # the quiet period after the last entry is over
    *_, quiet, again = events(LISTED)
    assert quiet.details["incidents"] == 0 and "repeats" not in quiet.details
    assert again.details["repeats"]["count"] == 8
    assert len(events()) == 4


def test_the_same_incidents_again_are_counted_a_change_to_one_is_recorded_at_once(
    api, agency, area, clock
):
    """Without ``since`` the same list comes back each time: nothing new, counted. A
    cancellation changes what is delivered: recorded at once."""
    incident = published(area=area)
    for _ in range(5):
        api(LIST, status="published")
    assert len(events(LISTED)) == 1
    incident.status = "dismissed"
    incident.save(update_fields=["status"])
    api(LIST, status="cancelled")  # another question: its own entry
    api(LIST, status="published")  # the answer changed (empty now): an entry
    published_entries = [e for e in events(LISTED) if e.details["query"]["status"] == "published"]
    assert [e.details["incidents"] for e in published_entries] == [1, 0]
    assert published_entries[1].details["repeats"]["count"] == 4
    assert len(events(LISTED)) == 3


def test_every_request_is_recorded_when_coalescing_is_off_or_the_cache_is_down(
    settings, api, area, monkeypatch
):
    settings.INTEGRATION_API_AUDIT_QUIET_S = 0
    for _ in range(3):
        api(LIST)
    assert len(events(LISTED)) == 3

    settings.INTEGRATION_API_AUDIT_QUIET_S = 600

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(services.cache, "get", unreachable)
    for _ in range(3):
        api(LIST)
    assert len(events(LISTED)) == 6


def test_the_cap_feed_and_documents_read_with_a_token_are_audited_a_siren_session_is_not(
    client, publish_alert, django_capture_on_commit_callbacks
):
    from apps.accounts.models import Application

    agency, incident = publish_alert
    token = api_token_create(agency=agency, name="CAD north")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token.plaintext}"}
    doc = f"/alerts/cap/{agency.system_id}/{incident.number}/1.xml"
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            reply = client.get(f"/alerts/cap/{agency.system_id}.xml", **auth)
        assert reply.status_code == 200
    assert client.get(doc, **auth).status_code == 200

    (feed,) = events("integrations.cap_feed_read")
    assert feed.agency == agency and feed.target_id == str(token.token.pk)
    assert feed.details["cap_messages"] == 1
    assert feed.details["references"] == [incident.reference]
    (document,) = events("integrations.cap_document_read")
    assert document.details["endpoint"] == doc
    assert document.details["cap_identifier"].startswith(f"urn:shotspotter-open:{agency.system_id}")

    client.force_login(UserFactory(agency=agency, applications=[Application.SIREN]))
    assert client.get(doc).status_code == 200
    assert len(events()) == 2


@pytest.fixture
def publish_alert(django_capture_on_commit_callbacks, area, agency):
    from apps.review import signals

    incident = published(area=area)
    with django_capture_on_commit_callbacks(execute=True):
        signals.incident_published.send(sender=None, incident_id=incident.pk)
    return agency, incident


def test_the_agency_audit_log_shows_token_reads_in_words_and_never_another_agencys(
    api, token, agency, other_agency, area, other_area, client
):
    mine = published(area=area)
    theirs = published(area=other_area)
    other_token = api_token_create(agency=other_agency, name="Their CAD")
    other_auth = {"HTTP_AUTHORIZATION": f"Bearer {other_token.plaintext}"}
    api(LIST, status="published")
    api(detail_url(agency.system_id, mine.number))
    other = Client()
    other.get(LIST, {"status": "published"}, **other_auth)
    other.get(detail_url(other_agency.system_id, theirs.number), **other_auth)
    other.get(LIST, {"type": "single_gunshot"}, **other_auth)

    boss = UserFactory(super_user=True, agency=agency)
    login_verified(client, boss)
    page = client.get("/agency/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Dispatch API: incidents listed" in html and "Dispatch API: incident read" in html
    assert f"API token CAD east ({token.token.prefix}…)" in html
    assert f"GET /api/v1/incidents/?status=published: 1 incident ({mine.reference})." in html
    for needle in ("Their CAD", other_token.token.prefix, theirs.reference):
        assert needle not in html
    choices = dict(page.context["form"].fields["action"].choices)
    assert choices[LISTED] == "Dispatch API: incidents listed"

    filtered = client.get("/agency/audit/", {"action": LISTED}).content.decode()
    assert mine.reference in filtered and theirs.reference not in filtered
    exported = b"".join(client.get("/privacy/audit.csv").streaming_content).decode()
    rows = list(csv.reader(io.StringIO(exported)))
    assert sum(LISTED in row or READ in row for row in rows) == 2
    assert other_token.token.prefix not in exported and theirs.reference not in exported

    their_boss = UserFactory(super_user=True, agency=other_agency)
    login_verified(client, their_boss)
    theirs_html = client.get("/agency/audit/").content.decode()
    assert f"API token Their CAD ({other_token.token.prefix}…)" in theirs_html
    assert token.token.prefix not in theirs_html and mine.reference not in theirs_html
    assert len(events(agency=agency)) == 2 and len(events(agency=other_agency)) == 3


def _csv(client, **params) -> list[dict]:
    response = client.get("/privacy/audit.csv", params)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_export_names_a_token_reader_as_the_audit_page_does(api, token, agency, client):
    """The export's actor column was the e-mail only: empty for a token's reads."""
    api(LIST, status="published")
    boss = UserFactory(super_user=True, agency=agency, email="chief@312.example")
    login_verified(client, boss)
    page = client.get("/agency/audit/", {"action": LISTED})
    (on_page,) = page.context["page"]

    rows = _csv(client)

    (listed,) = [row for row in rows if row["action"] == LISTED]
    assert listed["actor"] == on_page.actor_label == f"API token CAD east ({token.token.prefix}…)"
    assert listed["actor_email"] == ""  # still only a user's e-mail, where it was
    # The token was made without a user (a command): "system", as on the page.
    (created,) = [row for row in rows if row["action"] == "integrations.api_token_created"]
    assert created["actor"] == "system"
    (exported,) = _csv(client, action="export.audit_csv")
    assert exported["actor"] == exported["actor_email"] == "chief@312.example"


def test_the_actor_filter_finds_a_tokens_reads_by_its_name_never_another_agencys(
    api, token, agency, other_agency, area, other_area, client
):
    """The actor filter matched the e-mail only: typing the token's name found nothing.
    "Actor contains" matches the names (and prefixes) of the agency's own tokens and its
    users' e-mails, never another agency's entries, whatever their token is called."""
    from apps.audit.services import record_event

    boss = UserFactory(super_user=True, agency=agency, email="cad.chief@312.example")
    record_event(action="audio.playback", actor=boss, agency=agency, target_label="a clip")
    mine = published(area=area)
    published(area=other_area)
    api(LIST, status="published")
    api(detail_url(agency.system_id, mine.number))
    theirs = api_token_create(agency=other_agency, name="CAD east backup")
    Client().get(LIST, HTTP_AUTHORIZATION=f"Bearer {theirs.plaintext}")
    assert len(events(agency=other_agency)) == 1
    login_verified(client, boss)

    def shown(actor):
        page = client.get("/agency/audit/", {"actor": actor})
        assert page.status_code == 200
        table = page.content.decode().partition("<table")[2]
        assert theirs.token.prefix not in table and "backup" not in table
        return sorted(event.action for event in page.context["page"])

    assert shown("cad EAST") == [READ, LISTED]
    assert shown(token.token.prefix[:8]) == [READ, LISTED]
    assert shown("CAD") == ["audio.playback", READ, LISTED]  # the e-mail has it too
    assert shown("cad.chief@") == ["audio.playback"]
    assert shown("backup") == [] and shown(theirs.token.prefix) == []
    exported = _csv(client, actor="CAD east")
    assert [row["action"] for row in exported] == [READ, LISTED]
    assert all(row["actor"].startswith("API token CAD east (") for row in exported)
    html = client.get("/agency/audit/").content.decode()
    assert "Actor contains" in html and 'placeholder="e-mail or API token name"' in html


def test_the_since_of_a_token_read_is_shown_in_the_agencys_zone_like_every_time_there(
    api, token, agency, area, client
):
    """``since`` was shown as sent (UTC) on a page whose every other time is the
    agency's (Chicago): it reads in the agency's zone with its abbreviation, as do the
    repeats' times; the details below keep the value as sent."""
    import zoneinfo

    assert agency.time_zone == "America/Chicago"
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    api(LIST, since="2026-11-21T18:00:00Z")
    for _ in range(2):
        api(LIST, since="2026-07-01T18:00:00")  # no offset: UTC, as the API reads it
    api(LIST, since="2026-07-01T18:00:00", status="published")
    edge = api(LIST, since="0001-01-01T00:00:00Z", status="cancelled")
    assert edge.status_code == 200  # year 1 in UTC is year 0 in Chicago: shown as sent
    published(area=area)
    api(LIST, since="2026-07-01T18:00:00")
    boss = UserFactory(super_user=True, agency=agency)
    login_verified(client, boss)

    html = client.get("/agency/audit/").content.decode()

    assert "GET /api/v1/incidents/?since=2026-11-21 12:00:00 CST: 0 incidents." in html
    assert "?since=2026-07-01 13:00:00 CDT&amp;status=published: 0 incidents." in html
    assert "2026-11-21T18:00:00Z" in html  # in the recorded details, as sent
    assert "?since=0001-01-01T00:00:00Z&amp;status=cancelled: 0 incidents." in html
    delivered = events(LISTED)[-1]
    repeats = delivered.details["repeats"]
    assert repeats["count"] == 2

    def local(text):
        return dt.datetime.fromisoformat(text).astimezone(chicago).strftime("%Y-%m-%d %H:%M:%S %Z")

    assert f"{local(repeats['first'])} to {local(repeats['last'])}, not listed" in html


@pytest.fixture
def audit_writes_fail():
    """A real PostgreSQL failure of the audit write: while on, inserting an
    ``integrations.incidents_listed`` row raises (as a full disk or a lost connection
    would)."""
    from django.db import connection

    @contextlib.contextmanager
    def failing():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                CREATE FUNCTION test_refuse_token_reads() RETURNS trigger AS $$
                BEGIN RAISE EXCEPTION 'audit write failed (test)'; END $$ LANGUAGE plpgsql;
                CREATE TRIGGER test_refuse_token_reads BEFORE INSERT ON audit_auditevent
                FOR EACH ROW WHEN (NEW.action = 'integrations.incidents_listed')
                EXECUTE FUNCTION test_refuse_token_reads();
                """
            )
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(
                    "DROP TRIGGER IF EXISTS test_refuse_token_reads ON audit_auditevent;"
                    "DROP FUNCTION IF EXISTS test_refuse_token_reads();"
                )

    return failing


def _record_a_new_answer(token, incident):
    """The audit record of a list answer that differs from the counted repeats."""
    return services.integration_read_record(
        token=token.token,
        action=LISTED,
        endpoint=LIST,
        query={},
        references=[incident.reference],
        content=["a new answer"],
    )


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_failed_or_rolled_back_record_leaves_the_repeat_count_for_the_next_one(
    api, token, area, audit_writes_fail
):
    """The repeats were taken off Redis before the row was written: a write that failed
    lost them. They leave only once the record reporting them is committed (real
    PostgreSQL commits here, real Redis)."""
    from django.core.cache import cache
    from django.db import DatabaseError, transaction

    key = services._audit_cache_key(token=token.token, action=LISTED, endpoint=LIST, query={})
    api(LIST)
    for _ in range(3):
        api(LIST)
    assert len(events(LISTED)) == 1 and cache.get(f"{key}:n") == 3
    incident = published(area=area)  # a new answer: recorded at once, with the count

    with audit_writes_fail(), pytest.raises(DatabaseError, match="audit write failed"):
        api(LIST)
    assert len(events(LISTED)) == 1
    assert cache.get(f"{key}:n") == 3

    # Written, then rolled back with the caller's transaction: nothing is taken either.
    with pytest.raises(RuntimeError), transaction.atomic():
        _record_a_new_answer(token, incident)
        raise RuntimeError("the request failed after the audit write")
    assert len(events(LISTED)) == 1
    assert cache.get(f"{key}:n") == 3

    assert api(LIST).json()["results"][0]["id"] == incident.reference
    first, delivered = events(LISTED)
    assert delivered.details["references"] == [incident.reference]
    assert delivered.details["repeats"]["count"] == 3
    assert cache.get(f"{key}:n") is None  # reported and committed: off the count
    api(LIST)  # the same answer again: counted against the committed record
    assert len(events(LISTED)) == 2 and cache.get(f"{key}:n") == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_repeats_counted_while_a_record_commits_stay_for_the_next_record(api, token, area):
    """A record takes off Redis only the repeats it reported: one counted by another
    request between its read and its commit is reported by the next record."""
    from django.core.cache import cache
    from django.db import transaction

    key = services._audit_cache_key(token=token.token, action=LISTED, endpoint=LIST, query={})
    for _ in range(3):
        api(LIST)
    assert cache.get(f"{key}:n") == 2
    incident = published(area=area)
    with transaction.atomic():
        event = _record_a_new_answer(token, incident)
        services._count_repeat(key, timezone.now())  # another request, before the commit
    assert event.details["repeats"]["count"] == 2
    assert cache.get(f"{key}:n") == 1
    incident.status = "dismissed"
    incident.save(update_fields=["status"])
    api(LIST)  # a changed answer: recorded, with the one repeat left
    assert events(LISTED)[-1].details["repeats"]["count"] == 1
    assert cache.get(f"{key}:n") is None


def test_an_api_token_reaches_no_audio(api, client, token, agency, settings, tmp_path):
    """The integration API and CAP carry no audio or link to it, and the one playback
    path (apps.evidence) does not take a token: nothing there to audit."""
    from tests.portal.support import add_clip
    from tests.portal.support import published_incident as portal_published

    settings.MEDIA_ROOT = tmp_path
    incident = portal_published(agency)
    clip = add_clip(incident)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token.plaintext}"}

    listed = api(LIST).content.decode()
    read = api(detail_url(agency.system_id, incident.number)).content.decode()
    assert incident.reference in listed and incident.reference in read
    for body in (listed, read):
        assert "audio" not in body.lower() and "clip" not in body.lower()
        assert "/evidence/" not in body

    play = reverse("evidence:clip_playback", args=[clip.pk])
    fresh = Client(enforce_csrf_checks=True)
    assert fresh.post(play, **auth).status_code in (302, 403, 404)
    assert Client().post(play, **auth).status_code in (302, 403, 404)
    assert not PlaybackGrant.objects.exists()
    assert not AuditEvent.objects.filter(action="audio.playback").exists()
