"""Filing: who may file, what a request must say, and that nothing is half-written."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Application
from apps.audit.models import AuditEvent
from apps.geo.models import AddressPoint
from apps.investigations.models import InvestigationRequest, InvestigationStatus
from apps.investigations.services import InvestigationError
from tests.factories import UserFactory, login_verified
from tests.investigations.support import JUSTIFICATION, PLACE, file_request, offset
from tests.portal.support import published_incident

pytestmark = pytest.mark.django_db


def test_an_officer_files_a_request_and_it_is_audited(agency, officer_user):
    incident = published_incident(agency, lat=PLACE[0], lon=PLACE[1])
    when = timezone.now() - dt.timedelta(hours=5)

    investigation = file_request(
        officer_user, occurred_at=when, related_incident_number=incident.number
    )

    assert investigation.reference == "INV-612-1"
    assert investigation.status == InvestigationStatus.SUBMITTED
    assert (investigation.agency, investigation.filed_by) == (agency, officer_user)
    assert investigation.occurred_at == when and investigation.related_incident == incident
    event = AuditEvent.objects.get(action="investigation.filed")
    assert (event.actor, event.agency, event.target_id) == (
        officer_user,
        agency,
        str(investigation.pk),
    )
    assert event.details["case_number"] == "2026-004711"
    assert event.details["related_incident"] == incident.reference
    assert file_request(officer_user).number == 2  # numbered per agency


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"justification": "Shots heard."}, "justification", "at least 40 characters"),
        ({"case_number": ""}, "case_number", "case number"),
        ({"case_number": "<script>"}, "case_number", "case number"),
        ({"tolerance_s": 0}, "tolerance_s", "1 to 3600"),
        ({"tolerance_s": 7200}, "tolerance_s", "1 to 3600"),
        ({"radius_m": 5000.0}, "radius_m", "25 to 2000"),
        ({"latitude": None, "longitude": None}, "latitude", "latitude and longitude, or"),
        ({"longitude": None}, "latitude", "both the latitude and the longitude"),
        ({"latitude": 41.9, "longitude": -87.6}, "latitude", "outside your agency's coverage"),
        (
            {"latitude": None, "longitude": None, "address": "1 Nowhere St"},
            "address",
            "No address of your agency",
        ),
        ({"related_incident_number": 999}, "related_incident", "no published incident 999"),
        ("future", "occurred_at", "in the future"),
    ],
)
def test_invalid_requests_are_refused_clearly_and_write_nothing(
    agency, officer_user, overrides, field, message
):
    if overrides == "future":
        overrides = {"occurred_at": timezone.now() + dt.timedelta(minutes=10)}
    with pytest.raises(InvestigationError) as refused:
        file_request(officer_user, **overrides)
    assert message in " ".join(refused.value.message_dict[field])
    assert not InvestigationRequest.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="investigation.").exists()


def test_another_agencys_incident_cannot_be_related(agency, other_agency, officer_user):
    theirs = published_incident(other_agency)
    assert not agency.incidents.exists()
    with pytest.raises(InvestigationError) as refused:
        file_request(officer_user, related_incident_number=theirs.number)
    assert "no published incident" in refused.value.message_dict["related_incident"][0]
    assert not InvestigationRequest.objects.exists()


def test_an_address_of_the_agency_gives_the_place(agency, officer_user):
    lat, lon = offset(120, -80)
    AddressPoint.objects.create(
        agency=agency, label="1200 block of W Main St", latitude=lat, longitude=lon
    )
    investigation = file_request(
        officer_user, latitude=None, longitude=None, address="1200 BLOCK of w main st"
    )
    assert (investigation.latitude, investigation.longitude) == (lat, lon)
    assert investigation.address == "1200 block of W Main St"


def test_only_investigator_portal_users_file(agency, officer_user):
    no_grant = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    reviewer = UserFactory(irc_reviewer=True)
    for user in (no_grant, reviewer):
        with pytest.raises(PermissionDenied):
            file_request(user)
    assert not InvestigationRequest.objects.exists()


def test_the_file_page_takes_agency_local_time_and_shows_errors(client, agency, officer_user):
    client.force_login(officer_user)
    url = reverse("investigations:file")
    assert client.get(url).status_code == 200

    local = timezone.now().astimezone(zoneinfo.ZoneInfo(agency.time_zone)) - dt.timedelta(hours=1)
    form = {
        "case_number": "HC-2026-17",
        "occurred_at": local.strftime("%Y-%m-%dT%H:%M:%S"),
        "tolerance_s": "60",
        "latitude": str(PLACE[0]),
        "longitude": str(PLACE[1]),
        "radius_m": "150",
        "justification": JUSTIFICATION,
    }
    bad = client.post(url, {**form, "justification": "too short"})
    assert bad.status_code == 400
    assert b"at least 40 characters" in bad.content
    outside = client.post(url, {**form, "latitude": "41.9", "longitude": "-87.6"})
    assert outside.status_code == 400 and b"outside your agency" in outside.content
    assert not InvestigationRequest.objects.exists()

    response = client.post(url, form)
    investigation = InvestigationRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "investigations:detail", kwargs={"investigation_id": investigation.pk}
    )
    assert investigation.occurred_at == local.replace(microsecond=0)
    assert investigation.case_number == "HC-2026-17"


def test_the_agency_reads_its_request_in_the_local_time_it_filed_it(client, agency, officer_user):
    """The file page takes agency local time; the list and the request page used to show
    the same moment only in UTC (13:20 filed, 19:20 shown), with no local time at all."""
    zone = zoneinfo.ZoneInfo(agency.time_zone)
    local = dt.datetime(2026, 1, 15, 13, 20, 5, tzinfo=zone)  # CST, UTC-6
    investigation = file_request(officer_user, occurred_at=local)
    client.force_login(officer_user)

    listing = client.get(reverse("investigations:list")).content.decode()
    assert "2026-01-15 13:20:05 CST" in listing
    assert "19:20:05" not in listing

    page = client.get(
        reverse("investigations:detail", kwargs={"investigation_id": investigation.pk})
    ).content.decode()
    assert "2026-01-15 13:20:05 CST" in page
    assert "(19:20:05 UTC)" in page  # for the review center's correspondence
    filed = timezone.localtime(investigation.created_at, zone).strftime("%Y-%m-%d %H:%M")
    assert filed in page
    # The audit trail on the request page too.
    timeline = page[page.index('id="timeline"') :]
    assert "UTC</span>" not in timeline and (" CST</span>" in timeline or " CDT</span>" in timeline)


def test_review_staff_and_users_without_the_grant_get_no_agency_page(client, agency):
    no_grant = UserFactory(agency=agency, applications=[Application.SIREN])
    reviewer = UserFactory(irc_reviewer=True)
    for user in (no_grant, reviewer):
        login_verified(client, user)
        for name in ("investigations:list", "investigations:file"):
            assert client.get(reverse(name)).status_code == 403
    client.logout()
    assert client.get(reverse("investigations:list")).status_code == 302
