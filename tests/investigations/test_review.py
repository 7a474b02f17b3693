"""The reviewer's side: only verified review staff search; the search reads only the
requesting agency's stored pulses near the time and place; association over them locates
a shot the system missed; every step is audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.geo.polygons import haversine_m
from apps.investigations import services
from apps.investigations.models import InvestigationStatus
from apps.investigations.services import InvestigationError
from tests.factories import UserFactory, login_verified
from tests.incidents.support import deploy, ingest
from tests.investigations.support import (
    file_request,
    officer,
    sensor_at,
    store_pulses,
    verified,
)

pytestmark = pytest.mark.django_db


def _events(investigation, action):
    return AuditEvent.objects.filter(
        action=action, target_id=str(investigation.pk), agency=investigation.agency
    )


def test_only_verified_review_staff_search(agency, officer_user, reviewer):
    investigation = file_request(officer_user)
    unverified = UserFactory(irc_reviewer=True)
    unverified.is_verified = lambda: False
    boss = verified(officer(agency, role="agency_super_user"))
    for user in (officer_user, boss, unverified):
        with pytest.raises(PermissionDenied):
            services.investigation_search(investigation_id=investigation.pk, reviewer=user)
    investigation.refresh_from_db()
    assert investigation.status == InvestigationStatus.SUBMITTED
    assert investigation.search_result == {}
    assert not _events(investigation, "investigation.searched").exists()


def test_agency_users_reach_no_review_page(client, agency, officer_user, reviewer):
    investigation = file_request(officer_user)
    boss = officer(agency, role="agency_super_user")
    login_verified(client, boss)
    pk = investigation.pk
    assert client.get(reverse("investigations:review_queue")).status_code == 403
    assert client.get(reverse("investigations:review", args=[pk])).status_code == 403
    for name in ("search", "locate", "audio", "complete", "decline"):
        response = client.post(
            reverse(f"investigations:{name}", args=[pk]),
            {"reason": "x" * 40, "findings": "x" * 40, "shot": "0"},
        )
        assert response.status_code == 403, name
    investigation.refresh_from_db()
    assert investigation.status == InvestigationStatus.SUBMITTED


def test_search_reads_only_the_agencys_pulses_near_the_time_and_place(
    agency, other_agency, officer_user, reviewer
):
    when = timezone.now() - dt.timedelta(hours=3)
    near, _ = sensor_at(agency, "HC-NEAR", north=300)
    far, _ = sensor_at(agency, "HC-FAR", north=3500)  # beyond radius + hearing range
    theirs, _ = sensor_at(other_agency, "OT-SAME-PLACE", north=310)
    store_pulses(near, [when + dt.timedelta(seconds=1), when + dt.timedelta(seconds=1.4)])
    store_pulses(near, [when - dt.timedelta(minutes=30)])  # outside the time tolerance
    store_pulses(far, [when + dt.timedelta(seconds=2)])
    store_pulses(theirs, [when + dt.timedelta(seconds=1)])
    investigation = file_request(officer_user, occurred_at=when, tolerance_s=60)

    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)

    investigation.refresh_from_db()
    result = investigation.search_result
    assert result["n_pulses"] == 2 and result["n_sensors"] == 1
    assert [s["serial"] for s in result["sensors"]] == ["HC-NEAR"]
    assert result["sensors"][0]["count"] == 2
    assert result["shots"] == []  # one sensor locates nothing
    assert investigation.status == InvestigationStatus.IN_REVIEW
    assert investigation.reviewer == reviewer
    event = _events(investigation, "investigation.searched").get()
    assert event.actor == reviewer
    assert (event.details["pulses"], event.details["sensors"]) == (2, 1)


def test_association_locates_the_missed_shot(agency, officer_user, reviewer, settings):
    area = agency.coverage_areas.get()
    # A gunshot heard by dozens of sensors an hour ago that made no incident (its pulses
    # were stored but never processed: the system missed it).
    deployment = deploy(agency=agency, area=area, kind="single_shot", seed=2, lag_s=3600)
    weather = deployment.scenario.weather
    settings.PIPELINE_TEMPERATURE_C = weather.temperature_c
    settings.PIPELINE_WIND_SPEED_MS = weather.wind_speed_ms
    settings.PIPELINE_WIND_FROM_DEG = weather.wind_from_deg
    ingest(deployment)
    truth = deployment.truth_shots("gunfire")[0]
    truth_lat, truth_lon, _ = deployment.to_latlon(truth["x"], truth["y"])
    truth_time = dt.datetime.fromtimestamp(truth["t_emit"] + deployment.shift_s, dt.UTC)
    # The officer knows the minute and the block, not the exact point.
    investigation = file_request(
        officer_user,
        occurred_at=truth_time.replace(second=0, microsecond=0),
        tolerance_s=90,
        latitude=truth_lat + 0.0008,
        longitude=truth_lon - 0.0008,
        radius_m=250.0,
    )

    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    investigation.refresh_from_db()
    shots = investigation.search_result["shots"]
    matching = [s for s in shots if s["matches"]]
    assert matching, investigation.search_result
    best = min(
        matching,
        key=lambda s: haversine_m(
            lat1=s["latitude"], lon1=s["longitude"], lat2=truth_lat, lon2=truth_lon
        ),
    )
    error_m = haversine_m(
        lat1=best["latitude"], lon1=best["longitude"], lat2=truth_lat, lon2=truth_lon
    )
    assert error_m < 25.0
    emitted = dt.datetime.fromisoformat(best["emitted_utc"])
    assert abs((emitted - truth_time).total_seconds()) < 0.05

    services.investigation_locate(
        investigation_id=investigation.pk, reviewer=reviewer, shot_index=best["index"]
    )
    investigation.refresh_from_db()
    assert investigation.audio_point() == (best["latitude"], best["longitude"])
    assert investigation.located_at == emitted
    located = _events(investigation, "investigation.located").get()
    assert located.details["n_sensors"] == best["n_sensors"] >= 4


def test_locate_needs_a_shot_of_the_last_search(agency, officer_user, reviewer):
    investigation = file_request(officer_user)
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    with pytest.raises(InvestigationError, match="no such shot"):
        services.investigation_locate(
            investigation_id=investigation.pk, reviewer=reviewer, shot_index=0
        )
    investigation.refresh_from_db()
    assert not investigation.has_located_shot


def test_opening_a_request_is_audited_and_the_page_shows_it(client, agency, officer_user, reviewer):
    investigation = file_request(officer_user)
    login_verified(client, reviewer)

    queue = client.get(reverse("investigations:review_queue"))
    assert queue.status_code == 200 and investigation.reference.encode() in queue.content
    assert not _events(investigation, "investigation.viewed").exists()  # the list is not

    page = client.get(reverse("investigations:review", args=[investigation.pk]))
    assert page.status_code == 200
    assert investigation.justification.encode() in page.content
    viewed = _events(investigation, "investigation.viewed").get()
    assert viewed.actor == reviewer

    response = client.post(reverse("investigations:search", args=[investigation.pk]))
    assert response.status_code == 302
    assert _events(investigation, "investigation.searched").count() == 1
    # The page shown after the reviewer's own step is not a new opening...
    assert client.get(response["Location"]).status_code == 200
    assert _events(investigation, "investigation.viewed").count() == 1
    # ...but coming back after a quiet while is, and so is another reviewer's.
    later = timezone.now() + dt.timedelta(seconds=services.VIEW_QUIET_S + 1)
    assert services.investigation_record_view(
        investigation=investigation, reviewer=reviewer, now=later
    )
    colleague = verified(UserFactory(irc_reviewer=True))
    assert services.investigation_record_view(investigation=investigation, reviewer=colleague)
    assert _events(investigation, "investigation.viewed").count() == 3


def test_a_closed_request_cannot_be_searched(agency, officer_user, reviewer):
    investigation = file_request(officer_user)
    services.investigation_decline(
        investigation_id=investigation.pk, reviewer=reviewer, reason="Outside coverage."
    )
    with pytest.raises(InvestigationError, match="Declined"):
        services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    assert not _events(investigation, "investigation.searched").exists()
