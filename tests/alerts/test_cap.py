"""OASIS CAP 1.2: Alert, Update and Cancel messages validated against the OASIS schema."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from apps.accounts.models import Application
from apps.alerts.cap import CAP_NS, cap_errors, validate_cap
from apps.alerts.models import AlertMessage
from tests.alerts.support import agency_with_geography, published_incident
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
NS = {"cap": CAP_NS}


def text(document: str, path: str) -> str | None:
    node = ET.fromstring(document.encode()).find(path, NS)
    return node.text if node is not None else None


@pytest.fixture
def scene(publish):
    agency, area, districts, beats = agency_with_geography()
    incident = published_incident(area=area, beat=beats["21"], rounds=7)
    publish(incident)
    publish(incident, "update", "reclassified")
    publish(incident, "cancel")
    return agency, incident


def test_alert_update_and_cancel_are_valid_cap_with_references(scene):
    agency, incident = scene
    alert, update, cancel = AlertMessage.objects.filter(incident=incident).order_by("sequence")
    for message in (alert, update, cancel):
        validate_cap(message.cap_xml)  # raises when invalid
        assert cap_errors(message.cap_xml) == []
        assert text(message.cap_xml, "cap:identifier") == message.identifier
        assert text(message.cap_xml, "cap:sender") == "alerts@siren.example.org"
        assert text(message.cap_xml, "cap:incidents") == f"417-{incident.number}"
    assert [text(m.cap_xml, "cap:msgType") for m in (alert, update, cancel)] == [
        "Alert",
        "Update",
        "Cancel",
    ]
    assert text(alert.cap_xml, "cap:references") is None

    def triple(message):
        return ",".join(
            [
                text(message.cap_xml, "cap:sender"),
                text(message.cap_xml, "cap:identifier"),
                text(message.cap_xml, "cap:sent"),
            ]
        )

    assert text(update.cap_xml, "cap:references") == triple(alert)
    assert text(cancel.cap_xml, "cap:references").split() == [triple(alert), triple(update)]
    assert text(alert.cap_xml, "cap:info/cap:event") == "Gunfire"
    assert text(alert.cap_xml, "cap:info/cap:certainty") == "Observed"
    assert text(cancel.cap_xml, "cap:info/cap:responseType") == "AllClear"
    circle = text(alert.cap_xml, "cap:info/cap:area/cap:circle")
    lat, rest = circle.split(",")
    assert abs(float(lat) - incident.latitude) < 1e-5
    assert text(alert.cap_xml, "cap:info/cap:web").endswith(f"/incident/417/{incident.number}")


def test_the_validator_is_not_vacuous(scene):
    agency, incident = scene
    document = AlertMessage.objects.filter(incident=incident).first().cap_xml
    broken = document.replace("<msgType>Alert</msgType>", "<msgType>Shout</msgType>")
    assert cap_errors(broken)
    missing = document.replace("<status>Actual</status>", "")
    assert cap_errors(missing)


def test_the_feed_and_documents_need_siren_in_the_same_agency(client, scene):
    agency, incident = scene
    siren = UserFactory(agency=agency, applications=[Application.SIREN])
    console = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    other_agency, *_ = agency_with_geography(system_id="418")
    outsider = UserFactory(agency=other_agency, applications=[Application.SIREN])
    doc = f"/alerts/cap/417/{incident.number}/2.xml"

    assert client.get("/alerts/cap/417.xml").status_code == 302
    client.force_login(siren)
    feed = client.get("/alerts/cap/417.xml")
    assert feed.status_code == 200 and feed["Content-Type"].startswith("application/atom+xml")
    atom = ET.fromstring(feed.content)
    links = [e.get("href") for e in atom.iter("{http://www.w3.org/2005/Atom}link")]
    assert f"http://testserver{doc}" in links
    reply = client.get(doc)
    assert reply.status_code == 200 and reply["Content-Type"].startswith("application/cap+xml")
    assert "no-store" in reply["Cache-Control"] and "no-store" in feed["Cache-Control"]
    validate_cap(reply.content.decode())
    assert text(reply.content.decode(), "cap:msgType") == "Update"

    client.force_login(console)
    assert client.get("/alerts/cap/417.xml").status_code == 403
    client.force_login(outsider)
    assert client.get("/alerts/cap/417.xml").status_code == 404
    assert client.get(doc).status_code == 404


def test_a_dispatch_system_reads_the_feed_with_an_integration_api_token(client, scene):
    from apps.integrations.services import api_token_create

    agency, incident = scene
    token = api_token_create(agency=agency, name="CAD east").plaintext
    other_agency, *_ = agency_with_geography(system_id="418")
    other_token = api_token_create(agency=other_agency, name="CAD west").plaintext
    doc = f"/alerts/cap/417/{incident.number}/1.xml"

    feed = client.get("/alerts/cap/417.xml", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert feed.status_code == 200 and b"urn:shotspotter-open:417" in feed.content
    reply = client.get(doc, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert reply.status_code == 200
    validate_cap(reply.content.decode())
    assert text(reply.content.decode(), "cap:msgType") == "Alert"

    assert client.get(doc, HTTP_AUTHORIZATION=f"Bearer {other_token}").status_code == 404
    refused = client.get(doc, HTTP_AUTHORIZATION="Bearer sso_nope.nope")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    # No token after the scheme (U+00A0 survives the server's trimming): 401, was a 500.
    for header in ("Bearer ", "Bearer \xa0", "bearer \x85"):
        refused = client.get(doc, HTTP_AUTHORIZATION=header)
        assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")


def test_a_dispatch_systems_refusals_are_problems(client, scene, settings):
    """A token client was answered text/plain (401, 429) and the HTML 404 page."""
    from apps.integrations.services import api_token_create

    agency, incident = scene
    token = api_token_create(agency=agency, name="CAD east").plaintext
    other_agency, *_ = agency_with_geography(system_id="418")
    other_token = api_token_create(agency=other_agency, name="CAD west").plaintext
    doc = f"/alerts/cap/417/{incident.number}/1.xml"

    def problem(reply, status):
        assert reply.status_code == status
        assert reply["Content-Type"] == "application/problem+json"
        body = reply.json()
        assert body["status"] == status and body["title"] and body["detail"]
        return body

    refused = client.get(doc, HTTP_AUTHORIZATION="Bearer sso_nope.nope")
    assert problem(refused, 401)["detail"] == "The API token is not valid."
    assert refused["WWW-Authenticate"].startswith("Bearer")
    problem(client.get("/alerts/cap/417.xml", HTTP_AUTHORIZATION=f"Bearer {other_token}"), 404)
    problem(client.get(doc, HTTP_AUTHORIZATION=f"Bearer {other_token}"), 404)
    missing = f"/alerts/cap/417/{incident.number}/99.xml"
    problem(client.get(missing, HTTP_AUTHORIZATION=f"Bearer {token}"), 404)

    settings.INTEGRATION_API_RATE_LIMIT = 1
    settings.INTEGRATION_API_RATE_WINDOW_S = 3600
    fresh = api_token_create(agency=agency, name="CAD north").plaintext
    assert client.get(doc, HTTP_AUTHORIZATION=f"Bearer {fresh}").status_code == 200
    limited = client.get(doc, HTTP_AUTHORIZATION=f"Bearer {fresh}")
    assert "send again in" in problem(limited, 429)["detail"]
    assert int(limited["Retry-After"]) >= 1
