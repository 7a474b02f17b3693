"""The agency cancels its own open request: only the user who filed it or the agency's
super user; audited and on the timeline; pending audio requests withdrawn, so the sensors
no longer see them and no audio is taken; a closed request cannot be cancelled."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.incidents.models import AudioRequest, AudioRequestStatus
from apps.investigations import services
from apps.investigations.models import InvestigationClip, InvestigationStatus
from apps.investigations.services import InvestigationError
from tests.factories import login_verified
from tests.incidents.support import get_audio_requests, put_audio, wav_bytes
from tests.investigations.support import file_request, officer, sensor_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(agency, officer_user, reviewer):
    """A request with audio asked from two sensors, one of which already answered."""
    when = timezone.now() - dt.timedelta(hours=3)
    answered, answered_key = sensor_at(agency, "HC-150N", north=150)
    waiting, waiting_key = sensor_at(agency, "HC-400E", east=400)
    investigation = file_request(officer_user, occurred_at=when)
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    first, second = services.investigation_audio_request(
        investigation_id=investigation.pk,
        reviewer=reviewer,
        sensor_ids=[answered.pk, waiting.pk],
        source_start=when - dt.timedelta(seconds=1),
        duration_s=4.0,
    )
    services.investigation_clip_store(
        sensor=answered,
        request_id=first.pk,
        body=wav_bytes(seconds=3.5),
        start_time=first.window_start,
    )
    return investigation, second, waiting, waiting_key


def _cancel(client, investigation, reason="The suspect confessed; no audio is needed now."):
    return client.post(
        reverse("investigations:cancel", args=[investigation.pk]), {"reason": reason}
    )


def test_the_filer_cancels_and_the_sensors_stop_being_asked(client, asked, officer_user):
    investigation, pending, sensor, key = asked
    assert [
        r["id"] for r in get_audio_requests(client, key=key, serial="HC-400E").json()["requests"]
    ] == [pending.pk]
    client.force_login(officer_user)
    page = client.get(reverse("investigations:detail", args=[investigation.pk]))
    assert b'id="cancel"' in page.content

    response = _cancel(client, investigation)

    assert response.status_code == 302
    investigation.refresh_from_db()
    assert investigation.status == InvestigationStatus.CANCELLED
    assert investigation.cancel_reason == "The suspect confessed; no audio is needed now."
    assert investigation.closed_at is not None
    pending.refresh_from_db()
    assert pending.status == AudioRequestStatus.WITHDRAWN
    assert AudioRequest.objects.filter(status=AudioRequestStatus.FULFILLED).count() == 1
    event = AuditEvent.objects.get(action="investigation.cancelled")
    assert event.actor == officer_user and event.agency == investigation.agency
    assert event.target_id == str(investigation.pk)
    assert event.details["audio_requests_withdrawn"] == 1 and event.details["clips"] == 1
    # The sensor no longer sees the request, and an upload is refused.
    assert get_audio_requests(client, key=key, serial="HC-400E").json()["requests"] == []
    upload = put_audio(
        client,
        request_id=pending.pk,
        body=wav_bytes(seconds=2.0),
        start=pending.window_start,
        key=key,
        serial=sensor.serial_number,
    )
    assert upload.status_code == 409
    assert InvestigationClip.objects.count() == 1
    # The agency's page and the reviewer's page say so.
    page = client.get(reverse("investigations:detail", args=[investigation.pk])).content.decode()
    assert "Cancelled by the agency" in page and "The suspect confessed" in page
    assert "1 pending audio request(s) withdrawn" in page
    assert 'id="cancel"' not in page


def test_the_agency_super_user_may_cancel_a_colleague_may_not(
    client, agency, officer_user, reviewer
):
    investigation = file_request(officer_user)
    colleague = officer(agency, email="colleague@harbor.example")
    client.force_login(colleague)
    page = client.get(reverse("investigations:detail", args=[investigation.pk]))
    assert page.status_code == 200 and b'id="cancel"' not in page.content
    assert _cancel(client, investigation).status_code == 403
    with pytest.raises(PermissionDenied):
        services.investigation_cancel(investigation_id=investigation.pk, user=colleague)
    investigation.refresh_from_db()
    assert investigation.status == InvestigationStatus.SUBMITTED
    assert not AuditEvent.objects.filter(action="investigation.cancelled").exists()

    boss = officer(agency, role="agency_super_user", email="chief@harbor.example")
    login_verified(client, boss)
    assert _cancel(client, investigation, reason="").status_code == 302
    investigation.refresh_from_db()
    assert investigation.status == InvestigationStatus.CANCELLED
    event = AuditEvent.objects.get(action="investigation.cancelled")
    assert event.actor == boss and event.details["cancel_reason"] == ""
    page = client.get(reverse("investigations:detail", args=[investigation.pk]))
    assert b"No reason given." in page.content


def test_another_agency_or_a_reviewer_cannot_cancel(
    client, agency, other_agency, officer_user, reviewer
):
    investigation = file_request(officer_user)
    boss = officer(other_agency, role="agency_super_user")
    login_verified(client, boss)
    assert _cancel(client, investigation).status_code == 404
    with pytest.raises(InvestigationError, match="No such investigation request"):
        services.investigation_cancel(investigation_id=investigation.pk, user=boss)
    with pytest.raises(InvestigationError, match="No such investigation request"):
        services.investigation_cancel(investigation_id=investigation.pk, user=reviewer)
    login_verified(client, reviewer)
    assert _cancel(client, investigation).status_code == 403  # no Investigator Portal
    investigation.refresh_from_db()
    assert investigation.status == InvestigationStatus.SUBMITTED
    assert not AuditEvent.objects.filter(action="investigation.cancelled").exists()


@pytest.mark.parametrize("closing", ["complete", "decline", "cancel"])
def test_a_closed_request_cannot_be_cancelled(client, asked, officer_user, reviewer, closing):
    investigation = asked[0]
    if closing == "complete":
        services.investigation_complete(
            investigation_id=investigation.pk, reviewer=reviewer, findings="Shots confirmed."
        )
    elif closing == "decline":
        services.investigation_decline(
            investigation_id=investigation.pk, reviewer=reviewer, reason="Not gunfire at all."
        )
    else:
        services.investigation_cancel(investigation_id=investigation.pk, user=officer_user)
    investigation.refresh_from_db()
    status = investigation.status
    with pytest.raises(InvestigationError, match="already"):
        services.investigation_cancel(investigation_id=investigation.pk, user=officer_user)
    client.force_login(officer_user)
    page = client.get(reverse("investigations:detail", args=[investigation.pk]))
    assert b'id="cancel"' not in page.content
    response = _cancel(client, investigation)
    assert response.status_code == 302
    investigation.refresh_from_db()
    assert investigation.status == status
    assert AuditEvent.objects.filter(action="investigation.cancelled").count() == (
        1 if closing == "cancel" else 0
    )


def test_the_reviewer_can_do_nothing_more_on_a_cancelled_request(asked, officer_user, reviewer):
    investigation, pending, sensor, _ = asked
    services.investigation_cancel(investigation_id=investigation.pk, user=officer_user)
    with pytest.raises(InvestigationError, match="Cancelled"):
        services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    with pytest.raises(InvestigationError, match="Cancelled"):
        services.investigation_audio_request(
            investigation_id=investigation.pk,
            reviewer=reviewer,
            sensor_ids=[sensor.pk],
            source_start=investigation.occurred_at,
            duration_s=2.0,
        )
    with pytest.raises(InvestigationError, match="already cancelled"):
        services.investigation_complete(
            investigation_id=investigation.pk, reviewer=reviewer, findings="Too late for this."
        )


def test_the_cancel_post_needs_the_csrf_token(agency, officer_user):
    investigation = file_request(officer_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer_user)
    assert _cancel(client, investigation).status_code == 403
    assert client.get(reverse("investigations:cancel", args=[investigation.pk])).status_code == 405
    investigation.refresh_from_db()
    assert investigation.status == InvestigationStatus.SUBMITTED
