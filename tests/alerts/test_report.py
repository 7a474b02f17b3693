"""The incident report: printable page and PDF, chain of custody, audit and access."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zoneinfo

import pytest
from django.core.files.base import ContentFile

from apps.accounts.models import Application
from apps.audit.models import AuditEvent
from apps.incidents.models import AudioClip, AudioRequest, IncidentStatus
from tests.alerts.support import agency_with_geography, published_incident
from tests.factories import UserFactory, login_verified
from tests.review.support import add_shot, make_sensors

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene():
    agency, area, districts, beats = agency_with_geography()
    incident = published_incident(area=area, beat=beats["12"], rounds=2)
    sensors = make_sensors(area=area, n=4)
    add_shot(incident=incident, sensors=sensors)
    add_shot(
        incident=incident,
        sensors=sensors[:3],
        emitted_at=incident.first_shot_at + dt.timedelta(seconds=0.4),
    )
    hashes = []
    for k, sensor in enumerate(sensors[:2]):
        content = f"RIFF fake wav {k}".encode() * 50
        digest = hashlib.sha256(content).hexdigest()
        hashes.append(digest)
        start = incident.first_shot_at - dt.timedelta(seconds=2)
        request = AudioRequest.objects.create(
            incident=incident,
            sensor=sensor,
            window_start=start,
            window_end=start + dt.timedelta(seconds=6),
            distance_m=100.0 + k,
            status="fulfilled",
            expires_at=start + dt.timedelta(minutes=10),
        )
        AudioClip.objects.create(
            incident=incident,
            sensor=sensor,
            request=request,
            start_time=start,
            sample_rate=12000,
            n_samples=72000,
            duration_s=6.0,
            sha256=digest,
            size_bytes=len(content),
            distance_m=100.0 + k,
            file=ContentFile(content, name="clip.wav"),
        )
    investigator = UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL])
    return agency, incident, sensors, hashes, investigator


def pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_has_shots_sensors_history_and_every_clip_hash_and_is_audited(client, scene):
    agency, incident, sensors, hashes, investigator = scene
    client.force_login(investigator)
    reply = client.get(f"/alerts/report/417/{incident.number}.pdf")
    assert reply.status_code == 200 and reply["Content-Type"] == "application/pdf"
    assert reply.content.startswith(b"%PDF")
    text = pdf_text(reply.content).replace("\n", " ")
    compact = text.replace(" ", "")
    for digest in hashes:
        assert digest in compact
    for sensor in sensors:
        assert sensor.serial_number in text
    assert f"Incident report #417-{incident.number}" in text
    assert "Machine classification" in text and "gunfire" in text
    assert "1200 block of W Main St" in text
    local = incident.first_shot_at.astimezone(zoneinfo.ZoneInfo("America/Chicago"))
    assert local.strftime("%Y-%m-%d %H:%M:%S") in text  # each shot's time, agency zone
    event = AuditEvent.objects.get(action="report.generated")
    assert event.actor == investigator and event.agency == agency
    assert event.details["format"] == "pdf" and sorted(event.details["audio_sha256"]) == sorted(
        hashes
    )


def test_the_printable_page_shows_the_same_and_is_audited(client, scene):
    agency, incident, sensors, hashes, investigator = scene
    client.force_login(investigator)
    reply = client.get(f"/alerts/report/417/{incident.number}/")
    assert reply.status_code == 200
    page = reply.content.decode()
    for digest in hashes:
        assert digest in page
    assert page.count("<tr><td>1</td><td>") + page.count("<tr><td>2</td><td>") >= 2
    data = reply.context
    assert [len(s["sensors"]) for s in data["shots"]] == [4, 3]
    distances = [s["distance_m"] for s in data["shots"][0]["sensors"]]
    assert distances == sorted(distances)
    assert AuditEvent.objects.filter(action="report.generated", details__format="html").count() == 1


def test_classification_history_from_the_review_center_is_in_the_report(client, scene):
    from apps.review import services as review

    agency, incident, sensors, hashes, investigator = scene
    reviewer = UserFactory(irc_reviewer=True, email="reviewer@example.org")
    incident.status = IncidentStatus.PENDING_REVIEW
    incident.published_at = None
    incident.save()
    review.claim(reviewer=reviewer, incident_id=incident.pk)
    review.decide(
        reviewer=reviewer, incident_id=incident.pk, decision="multiple_gunshots", rounds=2
    )
    review.reclassify(
        reviewer=reviewer,
        incident_id=incident.pk,
        decision="possible_gunfire",
        reason="Echoes off the warehouse",
    )
    client.force_login(investigator)
    page = client.get(f"/alerts/report/417/{incident.number}/").content.decode()
    assert "Reclassification" in page and "Echoes off the warehouse" in page
    text = pdf_text(client.get(f"/alerts/report/417/{incident.number}.pdf").content)
    assert "Reclassification" in text and "Echoes off the warehouse" in text


def test_access_to_the_report(client, scene):
    agency, incident, sensors, hashes, investigator = scene
    url = f"/alerts/report/417/{incident.number}.pdf"
    other_agency, *_ = agency_with_geography(system_id="418")
    outsider = UserFactory(agency=other_agency, applications=[Application.INVESTIGATOR_PORTAL])
    siren_only = UserFactory(agency=agency, applications=[Application.SIREN])
    reviewer = UserFactory(irc_reviewer=True)

    assert client.get(url).status_code == 302
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(siren_only)
    denied = client.get(url)
    assert denied.status_code == 403 and b"Investigator Portal" in denied.content
    login_verified(client, reviewer)
    assert client.get(url).status_code == 200
    client.force_login(investigator)
    assert client.get(f"/alerts/report/417/{incident.number + 99}.pdf").status_code == 404
    incident.status = IncidentStatus.PENDING_REVIEW
    incident.published_at = None
    incident.save()
    assert client.get(url).status_code == 404
    assert AuditEvent.objects.filter(action="report.generated").count() == 1  # the reviewer's


def test_the_printable_page_links_back_to_the_applications(client, scene):
    """The report opens on its own: it must offer a way back (the portal home)."""
    agency, incident, sensors, hashes, investigator = scene
    client.force_login(investigator)
    page = client.get(f"/alerts/report/417/{incident.number}/").content.decode()
    assert 'href="/" id="report-back"' in page
