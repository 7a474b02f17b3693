"""Dispatch webhooks: signed JSON to a real local HTTP server, retries, logs and pages."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from apps.accounts.models import Application
from apps.alerts import services
from apps.alerts.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from apps.audit.models import AuditEvent
from tests.alerts.support import Receiver, agency_with_geography, published_incident
from tests.factories import UserFactory, login_verified

pytestmark = pytest.mark.django_db


def verify_signature(*, secret: str, header: str, body: bytes, now: float) -> bool:
    """A receiver's check, written from the documentation alone."""
    fields = {}
    for part in header.split(","):
        key, _, value = part.partition("=")
        fields[key.strip()] = value.strip()
    if "t" not in fields or "v1" not in fields:
        return False
    if abs(now - int(fields["t"])) > 300:
        return False
    signed = fields["t"].encode() + b"." + body
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


@pytest.fixture
def scene():
    agency, area, districts, beats = agency_with_geography()
    boss = UserFactory(super_user=True, agency=agency, email="boss@example.org")
    incident = published_incident(area=area, beat=beats["12"], rounds=3)
    return agency, boss, incident


def make_endpoint(
    boss, url, events=("incident.published", "incident.updated", "incident.cancelled")
):
    return services.webhook_endpoint_create(
        actor=boss, name="CAD", url=url, event_types=list(events)
    )


def test_a_failed_post_is_retried_and_every_attempt_is_logged(publish, scene):
    agency, boss, incident = scene
    with Receiver(statuses=[500, 200]) as receiver:
        endpoint = make_endpoint(boss, receiver.url)
        publish(incident)

    assert len(receiver.requests) == 2
    first, second = WebhookDelivery.objects.order_by("attempt")
    assert (first.attempt, first.status, first.response_status) == (
        1,
        DeliveryStatus.RETRY_SCHEDULED,
        500,
    )
    assert '"ok": false' in first.response_excerpt and first.duration_ms >= 0
    assert (second.attempt, second.status, second.response_status) == (2, DeliveryStatus.SENT, 200)
    assert second.not_before > first.created_at
    assert first.delivery_id == second.delivery_id
    ids = [r["headers"]["X-ShotSpotter-Delivery"] for r in receiver.requests]
    assert ids == [str(first.delivery_id)] * 2
    for request in receiver.requests:
        header = request["headers"]["X-ShotSpotter-Signature"]
        assert verify_signature(
            secret=endpoint.secret, header=header, body=request["body"], now=time.time()
        )
        assert request["headers"]["X-ShotSpotter-Event"] == "incident.published"
    payload = json.loads(receiver.requests[-1]["body"])
    assert payload["type"] == "incident.published"
    assert payload["incident"]["reference"] == f"417-{incident.number}"
    assert payload["incident"]["url"] == f"https://siren.example.org/incident/417/{incident.number}"
    assert payload["incident"]["rounds"] == 3 and payload["incident"]["beat"] == "12"


def test_the_signature_fails_for_a_changed_body_a_wrong_secret_or_an_old_timestamp(publish, scene):
    agency, boss, incident = scene
    with Receiver() as receiver:
        endpoint = make_endpoint(boss, receiver.url)
        publish(incident)
    request = receiver.requests[0]
    header, body = request["headers"]["X-ShotSpotter-Signature"], request["body"]
    assert verify_signature(secret=endpoint.secret, header=header, body=body, now=time.time())
    tampered = body.replace(b'"rounds":3', b'"rounds":4')
    assert tampered != body
    assert not verify_signature(
        secret=endpoint.secret, header=header, body=tampered, now=time.time()
    )
    assert not verify_signature(secret="whsec_wrong", header=header, body=body, now=time.time())
    assert not verify_signature(
        secret=endpoint.secret, header=header, body=body, now=time.time() + 3600
    )


def test_a_client_error_is_not_retried_and_unsubscribed_events_are_not_sent(publish, scene):
    agency, boss, incident = scene
    with Receiver(statuses=[401]) as receiver:
        make_endpoint(boss, receiver.url)
        services.webhook_endpoint_create(
            actor=boss, name="Cancel only", url=receiver.url, event_types=["incident.cancelled"]
        )
        publish(incident)
        publish(incident, "update", "comment")
    assert len(receiver.requests) == 2
    rows = WebhookDelivery.objects.order_by("pk")
    assert [(r.endpoint.name, r.status, r.response_status) for r in rows] == [
        ("CAD", DeliveryStatus.FAILED, 401),
        ("CAD", DeliveryStatus.FAILED, 401),
    ]
    assert receiver.requests[1]["headers"]["X-ShotSpotter-Event"] == "incident.updated"
    assert json.loads(receiver.requests[1]["body"])["change"] == "comment"


def test_an_unreachable_receiver_gives_up_after_max_attempts(settings, publish, scene):
    import socket

    agency, boss, incident = scene
    settings.ALERTS_WEBHOOK_MAX_ATTEMPTS = 3
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    make_endpoint(boss, f"http://127.0.0.1:{port}/hook")
    publish(incident)
    rows = list(WebhookDelivery.objects.order_by("attempt"))
    assert [r.status for r in rows] == [
        DeliveryStatus.RETRY_SCHEDULED,
        DeliveryStatus.RETRY_SCHEDULED,
        DeliveryStatus.FAILED,
    ]
    assert "ConnectionError" in rows[0].error and rows[-1].error.endswith("(gave up)")


# --- Pages ----------------------------------------------------------------------------------


def test_super_user_adds_an_endpoint_and_sees_the_secret_once(client, scene):
    agency, boss, incident = scene
    login_verified(client, boss)
    form = client.get("/alerts/agency/webhooks/add/")
    assert form.status_code == 200
    assert form.context["form"].initial["event_types"] == [
        "incident.published",
        "incident.updated",
        "incident.cancelled",
    ]
    reply = client.post(
        "/alerts/agency/webhooks/add/",
        {
            "name": "County CAD",
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["incident.published"],
        },
    )
    assert reply.status_code == 201
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in reply.content.decode()
    assert endpoint.agency == agency and endpoint.event_types == ["incident.published"]
    page = client.get(f"/alerts/agency/webhooks/{endpoint.pk}/")
    assert page.status_code == 200 and endpoint.secret not in page.content.decode()
    assert "County CAD" in client.get("/alerts/agency/webhooks/").content.decode()
    assert AuditEvent.objects.filter(action="alerts.webhook_created", agency=agency).exists()

    rotated = client.post(f"/alerts/agency/webhooks/{endpoint.pk}/rotate/")
    endpoint.refresh_from_db()
    assert endpoint.secret in rotated.content.decode()


def test_deleting_an_endpoint_asks_first(client, scene):
    """One click on "Delete endpoint" used to delete it at once, cutting the dispatch
    system off; it now opens a confirmation page and only its POST deletes."""
    agency, boss, incident = scene
    endpoint = make_endpoint(boss, "http://127.0.0.1:9/hook")
    login_verified(client, boss)
    url = f"/alerts/agency/webhooks/{endpoint.pk}/delete/"
    detail = client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").content.decode()
    assert f'<a class="button danger" href="{url}">' in detail

    confirm = client.get(url)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Delete the endpoint CAD?" in page and "http://127.0.0.1:9/hook" in page
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert not AuditEvent.objects.filter(action="alerts.webhook_deleted").exists()

    deleted = client.post(url)
    assert deleted.status_code == 302 and deleted["Location"] == "/alerts/agency/webhooks/"
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert AuditEvent.objects.filter(action="alerts.webhook_deleted", agency=agency).exists()


@pytest.mark.parametrize(
    "data,field",
    [
        (
            {
                "name": "CAD",
                "url": "ftp://cad.example.org/x",
                "event_types": ["incident.published"],
            },
            "url",
        ),
        ({"name": "CAD", "url": "not a url", "event_types": ["incident.published"]}, "url"),
        ({"name": "CAD", "url": "https://cad.example.org/x"}, "event_types"),
        (
            {
                "name": "CAD",
                "url": "https://cad.example.org/x",
                "event_types": ["incident.exploded"],
            },
            "event_types",
        ),
    ],
)
def test_bad_endpoint_input_is_refused_and_nothing_is_written(client, scene, data, field):
    agency, boss, incident = scene
    login_verified(client, boss)
    reply = client.post("/alerts/agency/webhooks/add/", data)
    assert reply.status_code == 400
    assert field in reply.context["form"].errors
    assert not WebhookEndpoint.objects.exists()


def test_plain_http_needs_the_setting(client, settings, scene):
    agency, boss, incident = scene
    settings.ALERTS_WEBHOOK_ALLOW_HTTP = False
    login_verified(client, boss)
    reply = client.post(
        "/alerts/agency/webhooks/add/",
        {"name": "CAD", "url": "http://cad.example.org/x", "event_types": ["incident.published"]},
    )
    assert reply.status_code == 400 and "https" in str(reply.context["form"].errors["url"])


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:6379/",
        "https://localhost/x",
        "https://api.localhost/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
    ],
)
def test_a_url_reaching_this_server_or_its_network_is_refused(client, settings, scene, url):
    """An agency super user reads the response excerpt of every delivery: a webhook to a
    private address would let a customer probe and read the platform's own services."""
    agency, boss, incident = scene
    settings.ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    login_verified(client, boss)
    data = {"name": "CAD", "url": url, "event_types": ["incident.published"]}
    reply = client.post("/alerts/agency/webhooks/add/", data)
    assert reply.status_code == 400
    assert "private, loopback or link-local" in str(reply.context["form"].errors["url"])
    assert not WebhookEndpoint.objects.exists()

    endpoint = make_endpoint(boss, "https://cad.example.org/x")  # a public name is fine
    reply = client.post(f"/alerts/agency/webhooks/{endpoint.pk}/", {**data, "active": "on"})
    assert reply.status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.url == "https://cad.example.org/x"


def test_a_stored_endpoint_reaching_a_private_address_is_never_posted_to(settings, publish, scene):
    """Checked again before each POST (after a DNS look-up in general): an endpoint saved
    while private addresses were allowed, or a name that resolves to one, gets nothing."""
    agency, boss, incident = scene
    with Receiver(statuses=[200]) as receiver:
        endpoint = make_endpoint(boss, receiver.url)  # allowed in these tests' settings
        settings.ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
        publish(incident)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempt == 1
    assert delivery.error.startswith("Not sent: 127.0.0.1 is a private")
    assert delivery.response_status is None


def test_webhook_pages_are_for_the_agency_super_user_of_that_agency(client, publish, scene):
    agency, boss, incident = scene
    with Receiver(statuses=[500, 200]) as receiver:
        endpoint = make_endpoint(boss, receiver.url)
        publish(incident)
    other_agency, *_ = agency_with_geography(system_id="418")
    other_boss = UserFactory(super_user=True, agency=other_agency)
    officer = UserFactory(agency=agency, applications=[Application.SIREN])

    login_verified(client, boss)
    log = client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").content.decode()
    assert "Failed, retry scheduled" in log and "500" in log and "Sent" in log

    login_verified(client, other_boss)
    assert client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").status_code == 404
    assert client.post(f"/alerts/agency/webhooks/{endpoint.pk}/delete/").status_code == 404
    assert client.post(f"/alerts/agency/webhooks/{endpoint.pk}/rotate/").status_code == 404

    client.force_login(officer)
    assert client.get("/alerts/agency/webhooks/").status_code == 403
    assert client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").status_code == 403
    client.logout()
    assert client.get("/alerts/agency/webhooks/").status_code == 302
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
