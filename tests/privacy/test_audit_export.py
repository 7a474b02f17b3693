"""The agency super user's CSV export of the audit trail: own agency only, filtered like
the audit page, and itself audited."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.privacy.selectors import AUDIT_CSV_COLUMNS
from tests.factories import AgencyFactory, UserFactory, login_verified

pytestmark = pytest.mark.django_db

URL = "/privacy/audit.csv"


@pytest.fixture
def agencies():
    own = AgencyFactory(system_id="610", time_zone="America/Chicago")
    other = AgencyFactory(system_id="611")
    boss = UserFactory(agency=own, super_user=True, email="chief@own.example")
    officer = UserFactory(agency=own, email="officer@own.example")
    stranger = UserFactory(agency=other, super_user=True, email="chief@other.example")
    record_event(action="audio.playback", actor=officer, agency=own, target_label="own clip")
    record_event(action="export.csv", actor=boss, agency=own, target_label="own export")
    record_event(action="audio.playback", actor=stranger, agency=other, target_label="OTHER")
    record_event(action="retention.purge", agency=None, target_label="platform")
    return own, other, boss, officer, stranger


def _rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_export_has_the_agencys_events_only(client, agencies):
    own, _, boss, _, _ = agencies
    login_verified(client, boss)

    response = client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-610-')
    rows = _rows(response)
    assert list(rows[0]) == list(AUDIT_CSV_COLUMNS)
    assert [r["target_label"] for r in rows] == ["own export", "own clip"]
    assert {r["actor"] for r in rows} == {"chief@own.example", "officer@own.example"}


def test_filters_like_the_audit_page(client, agencies):
    own, _, boss, _, _ = agencies
    login_verified(client, boss)

    by_action = _rows(client.get(URL, {"action": "audio.playback"}))
    by_actor = _rows(client.get(URL, {"actor": "chief@"}))
    today = timezone.now().astimezone(dt.timezone(dt.timedelta(hours=-6))).date()
    future = _rows(client.get(URL, {"date_from": str(today + dt.timedelta(days=2))}))

    assert [r["target_label"] for r in by_action] == ["own clip"]
    # The earlier exports are the chief's own events too.
    assert {r["action"] for r in by_actor} == {"export.csv", "export.audit_csv"}
    assert {r["actor"] for r in by_actor} == {"chief@own.example"}
    assert future == []


def test_the_export_is_audited_with_filters_and_row_count(client, agencies):
    own, _, boss, _, _ = agencies
    login_verified(client, boss)

    rows = _rows(client.get(URL, {"action": "audio.playback"}))

    event = AuditEvent.objects.filter(action="export.audit_csv").get()
    assert event.agency == own
    assert event.actor == boss
    assert event.details == {
        "filters": {"action": "audio.playback", "actor": "", "date_from": "", "date_to": ""},
        "rows": len(rows),
    }
    # The next export lists the previous export.
    again = _rows(client.get(URL))
    assert again[0]["action"] == "export.audit_csv"


def test_another_agencys_action_is_not_even_a_valid_filter(client, agencies):
    _, _, boss, _, _ = agencies
    record_event(action="other.only", agency=AgencyFactory(system_id="612"))
    login_verified(client, boss)

    response = client.get(URL, {"action": "other.only"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["title"]) == (400, "Invalid filters")
    assert list(problem["errors"]) == ["action"] and problem["detail"].startswith("action: ")
    assert not AuditEvent.objects.filter(action="export.audit_csv").exists()


def test_bad_dates_are_a_clear_400(client, agencies):
    _, _, boss, _, _ = agencies
    login_verified(client, boss)

    reversed_range = client.get(URL, {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    not_a_date = client.get(URL, {"date_from": "yesterday"})

    # A file download answers a problem+json naming each bad parameter (was plain text).
    assert reversed_range.status_code == 400
    assert reversed_range["Content-Type"] == "application/problem+json"
    assert reversed_range.json()["errors"] == {
        "non_field_errors": ["The start date must not be after the end date."]
    }
    assert not_a_date.status_code == 400
    assert not_a_date["Content-Type"] == "application/problem+json"
    assert not_a_date.json()["errors"] == {"date_from": ["Enter a valid date."]}
    assert not_a_date.json()["detail"] == "date_from: Enter a valid date."
    # 9999-12-31 has no next day: it was an OverflowError (500), on the page too.
    for url in (URL, "/agency/audit/"):
        last_day = client.get(url, {"date_to": "9999-12-31"})
        assert last_day.status_code == 400
        assert b"Choose a date from 1900-01-01 to 9998-12-31." in last_day.content
    assert not AuditEvent.objects.filter(action="export.audit_csv").exists()


def test_spreadsheet_formulas_are_quoted(client, agencies):
    own, _, boss, _, _ = agencies
    record_event(action="audio.playback", agency=own, target_label="=HYPERLINK(1)")
    login_verified(client, boss)

    rows = _rows(client.get(URL, {"action": "audio.playback"}))

    assert rows[0]["target_label"] == "'=HYPERLINK(1)"


def test_only_two_factor_verified_agency_super_users(client, agencies):
    _, _, boss, officer, _ = agencies
    assert client.get(URL).status_code == 302  # logged out: to the log-in page
    assert "/accounts/login/" in client.get(URL)["Location"]

    login_verified(client, officer)
    assert client.get(URL).status_code == 403

    client.logout()
    client.force_login(boss)  # not past the second factor
    assert client.get(URL).status_code in (302, 403)

    staff = UserFactory(platform_admin=True)
    login_verified(client, staff)
    assert client.get(URL).status_code == 403
    assert not AuditEvent.objects.filter(action="export.audit_csv").exists()


def test_post_is_not_allowed(client, agencies):
    _, _, boss, _, _ = agencies
    login_verified(client, boss)
    assert client.post(URL).status_code == 405
