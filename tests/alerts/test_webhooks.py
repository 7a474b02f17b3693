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
from tests.alerts.support import (
    Receiver,
    agency_with_geography,
    make_endpoint,
    webhook_scene,
)
from tests.factories import UserFactory, login_verified
from tests.sensor_agent.support import free_port

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
    return webhook_scene()


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
    agency, boss, incident = scene
    settings.ALERTS_WEBHOOK_MAX_ATTEMPTS = 3
    make_endpoint(boss, f"http://127.0.0.1:{free_port()}/hook")
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


def test_making_a_new_secret_asks_first_and_is_audited(client, scene):
    """One click on "Make a new secret" used to replace it at once: the dispatch system
    then rejected every alert until someone gave it the new one. It now asks first."""
    agency, boss, incident = scene
    endpoint = make_endpoint(boss, "http://127.0.0.1:9/hook")
    old_secret = endpoint.secret
    login_verified(client, boss)
    url = f"/alerts/agency/webhooks/{endpoint.pk}/rotate/"
    detail = client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").content.decode()
    assert f'<a class="button secondary" href="{url}">Make a new secret…</a>' in detail
    assert f'action="{url}"' not in detail  # no one-click form any more

    confirm = client.get(url)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Make a new signing secret for CAD?" in page and "http://127.0.0.1:9/hook" in page
    assert "stops working <strong>at once</strong>" in page
    assert f'href="/alerts/agency/webhooks/{endpoint.pk}/">Cancel</a>' in page
    endpoint.refresh_from_db()
    assert endpoint.secret == old_secret
    assert old_secret not in page
    assert not AuditEvent.objects.filter(action="alerts.webhook_secret_rotated").exists()

    rotated = client.post(url)
    assert rotated.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.secret != old_secret and endpoint.secret in rotated.content.decode()
    (event,) = AuditEvent.objects.filter(action="alerts.webhook_secret_rotated", agency=agency)
    assert event.actor_id == boss.pk
    assert client.put(url).status_code == 405


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


def test_a_cancel_through_the_review_services_carries_the_new_type_and_reason(
    scene, django_capture_on_commit_callbacks
):
    """Reclassified as not gunfire: the webhook said type "multiple_gunshots" (guessed from
    the rounds) and neither it nor the CAP Cancel gave the reviewer's reason."""
    from xml.etree import ElementTree as ET

    from apps.alerts.cap import CAP_NS, validate_cap
    from apps.incidents.models import IncidentStatus
    from apps.review import services as review

    agency, boss, incident = scene
    incident.status = IncidentStatus.PENDING_REVIEW
    incident.published_at = None
    incident.save()
    reviewer = UserFactory(irc_reviewer=True)
    with Receiver(statuses=[200, 200]) as receiver:
        make_endpoint(boss, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            review.claim(reviewer=reviewer, incident_id=incident.pk)
            review.decide(
                reviewer=reviewer, incident_id=incident.pk, decision="possible_gunfire", rounds=3
            )
        with django_capture_on_commit_callbacks(execute=True):
            review.reclassify(
                reviewer=reviewer,
                incident_id=incident.pk,
                decision="not_gunfire",
                not_gunfire_reason="backfire",
                reason="Truck backfiring, heard on the sensor audio",
            )

    published, cancelled = (json.loads(r["body"]) for r in receiver.requests)
    assert receiver.requests[1]["headers"]["X-ShotSpotter-Event"] == "incident.cancelled"
    assert cancelled["type"] == "incident.cancelled"
    facts = cancelled["incident"]
    assert facts["type"] == "not_gunfire" and facts["type_label"] == "Not gunfire (Backfire)"
    assert facts["not_gunfire_reason"] == "backfire"
    assert facts["review_reason"] == "Truck backfiring, heard on the sensor audio"
    # It names the alert it withdraws, not a type guessed from the rounds.
    assert facts["headline"] == published["incident"]["headline"] == "Possible gunfire (3 rounds)"
    assert facts["previous_type_label"] == "Possible gunfire"

    cap = incident.alert_messages.get(sequence=2).cap_xml
    validate_cap(cap)
    root = ET.fromstring(cap.encode())
    ns = {"cap": CAP_NS}
    assert root.find("cap:msgType", ns).text == "Cancel"
    note = root.find("cap:note", ns).text
    assert "not gunfire (backfire)" in note and "Truck backfiring" in note
    assert root.find("cap:info/cap:headline", ns).text == "CANCELLED: Possible gunfire (3 rounds)"
    assert root.find("cap:info/cap:eventCode/cap:value", ns).text == "not_gunfire"


def test_a_test_delivery_is_signed_logged_audited_and_not_retried(
    client, scene, django_capture_on_commit_callbacks
):
    """After making a new secret the super user could not check the dispatch system had
    it before a real alert: "Send test delivery" POSTs a signed ``test`` event now."""
    agency, boss, incident = scene
    with Receiver(statuses=[200, 500]) as receiver:
        endpoint = make_endpoint(boss, receiver.url)
        login_verified(client, boss)
        url = f"/alerts/agency/webhooks/{endpoint.pk}/test/"
        detail = client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").content.decode()
        assert f'action="{url}"' in detail and "Send test delivery" in detail
        assert client.get(url).status_code == 405
        with django_capture_on_commit_callbacks(execute=True):
            sent = client.post(url)
        assert sent.status_code == 302 and sent["Location"].endswith(f"/{endpoint.pk}/")
        with django_capture_on_commit_callbacks(execute=True):
            client.post(url)  # the receiver answers 500 this time

    assert len(receiver.requests) == 2  # the failed one was not retried
    request = receiver.requests[0]
    assert request["headers"]["X-ShotSpotter-Event"] == "test"
    assert verify_signature(
        secret=endpoint.secret,
        header=request["headers"]["X-ShotSpotter-Signature"],
        body=request["body"],
        now=time.time(),
    )
    payload = json.loads(request["body"])
    assert payload["type"] == "test" and payload["incident"] is None
    ok, failed = WebhookDelivery.objects.order_by("created_at", "id")
    assert (ok.message, ok.status, ok.response_status) == (None, DeliveryStatus.SENT, 200)
    assert (failed.status, failed.response_status) == (DeliveryStatus.FAILED, 500)
    assert AuditEvent.objects.filter(action="alerts.webhook_test_sent", agency=agency).count() == 2
    log = client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").content.decode()
    assert "<td>test</td>" in log and "Sent" in log and "Failed" in log

    other_agency, *_ = agency_with_geography(system_id="418")
    login_verified(client, UserFactory(super_user=True, agency=other_agency))
    assert client.post(url).status_code == 404


# --- What a failure means, in the delivery log -------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        ("refused", "Connection refused by 127.0.0.1: nothing accepts connections at that port."),
        ("dns", "DNS failure: the host name no-such-dispatch.invalid could not be resolved."),
        (
            "timeout",
            "Timed out: 127.0.0.1 accepted the connection but did not answer within 0.5 s.",
        ),
        ("tls", "TLS error: no secure connection to 127.0.0.1: it did not answer in TLS"),
        ("http", "The receiver answered HTTP 503 (Service Unavailable)."),
        ("guard", "Not sent (refused by the private-address guard): 127.0.0.1 is a private"),
    ],
)
def test_the_delivery_log_says_what_failed_in_words_and_keeps_the_raw_error(
    client, settings, scene, django_capture_on_commit_callbacks, kind, shown
):
    """The log showed the raw exception, e.g. ``ConnectionError: HTTPConnectionPool(host=
    '127.0.0.1', port=...): Max retries exceeded with url: ... [Errno 111] Connection
    refused``; it now says what happened, and the raw text stays stored."""
    agency, boss, incident = scene
    settings.ALERTS_WEBHOOK_TIMEOUT_S = 0.5
    with Receiver(statuses=[503], delay_s=2.0 if kind == "timeout" else 0.0) as receiver:
        url = {
            "refused": f"http://127.0.0.1:{free_port()}/hook",
            "dns": "http://no-such-dispatch.invalid/hook",
            "tls": receiver.url.replace("http://", "https://"),
        }.get(kind, receiver.url)
        endpoint = make_endpoint(boss, url)
        if kind == "guard":
            settings.ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
        with django_capture_on_commit_callbacks(execute=True):
            services.webhook_test_send(endpoint=endpoint, actor=boss)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.FAILED and delivery.error
    assert delivery.failure_message.startswith(shown)
    login_verified(client, boss)
    page = client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").content.decode()
    assert shown.replace("'", "&#x27;") in page
    for raw in ("Max retries", "HTTPConnectionPool", "Errno", "Caused by", "(read timeout="):
        assert raw not in page
    if kind in ("refused", "dns", "timeout", "tls"):  # the raw text is kept for platform staff
        assert delivery.error.split(":")[0] in {"ConnectionError", "ReadTimeout", "SSLError"}


def test_a_delivery_that_gave_up_says_after_how_many_attempts(settings, publish, scene):
    agency, boss, incident = scene
    settings.ALERTS_WEBHOOK_MAX_ATTEMPTS = 2
    make_endpoint(boss, f"http://127.0.0.1:{free_port()}/hook")
    publish(incident)
    first, last = WebhookDelivery.objects.order_by("attempt")
    assert first.failure_message == (
        "Connection refused by 127.0.0.1: nothing accepts connections at that port."
    )
    assert last.error.endswith("(gave up)")
    assert last.failure_message.endswith("at that port. Gave up after 2 attempts.")


def test_in_embedded_mode_a_failure_is_recorded_and_nothing_is_retried(
    settings, publish, scene, client
):
    """Under make run tasks run in-process: a retry's countdown was ignored, so a receiver
    answering 503 got six POSTs within 0.2 s and one that hangs held the reviewer's publish
    for 6 x ALERTS_WEBHOOK_TIMEOUT_S. Now the first failure is final there."""
    agency, boss, incident = scene
    settings.ALERTS_RETRY_WHEN_EAGER = False  # make run's default (the suite turns it on)
    assert settings.CELERY_TASK_ALWAYS_EAGER
    settings.ALERTS_WEBHOOK_TIMEOUT_S = 0.5
    with Receiver(statuses=[503], delay_s=1.0) as receiver:
        endpoint = make_endpoint(boss, receiver.url)
        started = time.perf_counter()
        publish(incident)
        took = time.perf_counter() - started

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.attempt, delivery.status) == (1, DeliveryStatus.FAILED)
    assert delivery.error.endswith("(not retried: tasks run in-process)")
    assert took < 3.0  # one timeout, not six
    assert delivery.failure_message.endswith("with no worker to retry later.")
    login_verified(client, boss)
    page = client.get(f"/alerts/agency/webhooks/{endpoint.pk}/").content.decode()
    assert "Not retried: this server runs its tasks in-process" in page
    assert "retry scheduled" not in page
