"""Every sensor request is signed (RFC 9421, Ed25519); anything else is refused and logged."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from apps.sensors.models import RefusedRequest, SensorPulse, SensorStatus, UsedNonce
from apps.sensors.services import sensor_set_status, used_nonces_purge
from apps.sensors.signing import generate_private_key
from tests.sensors.support import PULSES, batch, encode, post_signed, signed_headers

pytestmark = pytest.mark.django_db


def assert_refused(response, *, status: int, reason: str, key_id: str = ""):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    refusal = RefusedRequest.objects.get()
    assert refusal.reason == reason
    assert refusal.status_code == status
    assert refusal.key_id == key_id
    assert refusal.path == PULSES
    assert refusal.ip_address == "127.0.0.1"
    assert SensorPulse.objects.count() == 0
    return body


def test_valid_signature_is_accepted(client, sensor, key):
    response = post_signed(client, PULSES, batch(3), key=key, serial="S-0001")
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 3, "duplicates": 0}
    assert SensorPulse.objects.filter(sensor=sensor).count() == 3
    assert not RefusedRequest.objects.exists()
    assert UsedNonce.objects.filter(sensor=sensor).count() == 1


def test_wrong_key_is_refused(client, sensor, caplog):
    response = post_signed(client, PULSES, batch(2), key=generate_private_key(), serial="S-0001")
    assert_refused(response, status=401, reason="bad_signature", key_id="S-0001")
    assert response["WWW-Authenticate"].startswith("Signature")
    assert "sensor request refused: reason=bad_signature" in caplog.text


def test_tampered_body_is_refused(client, sensor, key):
    payload = batch(2)
    tampered = json.loads(json.dumps(payload))
    tampered["pulses"][0]["power_db_spl"] = 150.0
    response = post_signed(
        client, PULSES, payload, key=key, serial="S-0001", send_body=encode(tampered)
    )
    assert_refused(response, status=401, reason="digest_mismatch", key_id="S-0001")


def test_forged_digest_header_breaks_the_signature(client, sensor, key):
    payload = batch(1)
    headers = signed_headers(path=PULSES, body=encode(payload), key=key, serial="S-0001")
    other = encode(batch(1))
    forged = signed_headers(path=PULSES, body=other, key=key, serial="S-0001")
    headers["Content-Digest"] = forged["Content-Digest"]
    response = post_signed(
        client, PULSES, payload, key=key, serial="S-0001", headers=headers, send_body=other
    )
    assert_refused(response, status=401, reason="bad_signature", key_id="S-0001")


def test_other_url_is_refused(client, sensor, key):
    """A signature for another endpoint (or host) does not carry over."""
    body = encode(batch(1))
    headers = signed_headers(path="/api/v1/sensor/heartbeat", body=body, key=key, serial="S-0001")
    response = post_signed(client, PULSES, body, key=key, serial="S-0001", headers=headers)
    assert_refused(response, status=401, reason="bad_signature", key_id="S-0001")


def test_stale_signature_is_refused(client, sensor, key):
    created = timezone.now() - dt.timedelta(seconds=31)
    response = post_signed(client, PULSES, batch(1), key=key, serial="S-0001", created=created)
    assert_refused(response, status=401, reason="stale", key_id="S-0001")


def test_signature_25_seconds_old_is_accepted(client, sensor, key):
    # Well inside the 30 s window, so a slow test machine cannot push it over the edge.
    created = timezone.now() - dt.timedelta(seconds=25)
    response = post_signed(client, PULSES, batch(1), key=key, serial="S-0001", created=created)
    assert response.status_code == 202


def test_future_dated_signature_is_refused(client, sensor, key):
    created = timezone.now() + dt.timedelta(seconds=20)
    response = post_signed(client, PULSES, batch(1), key=key, serial="S-0001", created=created)
    assert_refused(response, status=401, reason="future", key_id="S-0001")


def test_replayed_nonce_is_refused(client, sensor, key):
    body = encode(batch(2))
    headers = signed_headers(path=PULSES, body=body, key=key, serial="S-0001")
    first = post_signed(client, PULSES, body, key=key, serial="S-0001", headers=headers)
    assert first.status_code == 202
    replay = post_signed(client, PULSES, body, key=key, serial="S-0001", headers=headers)
    assert replay.status_code == 401
    assert replay["Content-Type"] == "application/problem+json"
    refusal = RefusedRequest.objects.get()
    assert refusal.reason == "replayed_nonce" and refusal.sensor == sensor
    assert SensorPulse.objects.count() == 2  # only the first request's pulses


def test_same_nonce_with_new_body_is_still_a_replay(client, sensor, key):
    post_signed(client, PULSES, batch(1), key=key, serial="S-0001", nonce="fixed-nonce-123")
    response = post_signed(
        client, PULSES, batch(1), key=key, serial="S-0001", nonce="fixed-nonce-123"
    )
    assert response.status_code == 401
    assert RefusedRequest.objects.get().reason == "replayed_nonce"
    assert SensorPulse.objects.count() == 1


def test_unknown_serial_is_refused(client, sensor):
    response = post_signed(client, PULSES, batch(1), key=generate_private_key(), serial="S-9999")
    assert_refused(response, status=401, reason="unknown_sensor", key_id="S-9999")


@pytest.mark.parametrize("status", [SensorStatus.DISABLED, SensorStatus.RETIRED])
def test_disabled_or_retired_sensor_is_forbidden(client, sensor, key, status):
    sensor_set_status(sensor=sensor, status=status)
    response = post_signed(client, PULSES, batch(1), key=key, serial="S-0001")
    assert_refused(response, status=403, reason="sensor_not_active", key_id="S-0001")


def test_missing_signature_headers_are_refused(client, sensor):
    response = client.post(PULSES, data=encode(batch(1)), content_type="application/json")
    assert_refused(response, status=401, reason="missing_signature")


def test_malformed_signature_input_is_refused(client, sensor, key):
    body = encode(batch(1))
    headers = signed_headers(path=PULSES, body=body, key=key, serial="S-0001")
    headers["Signature-Input"] = "sensor=(((garbage"
    response = post_signed(client, PULSES, body, key=key, serial="S-0001", headers=headers)
    assert_refused(response, status=401, reason="missing_signature")


def test_signature_without_nonce_is_refused(client, sensor, key):
    body = encode(batch(1))
    headers = signed_headers(path=PULSES, body=body, key=key, serial="S-0001")
    headers["Signature-Input"] = headers["Signature-Input"].replace(";nonce=", ";x=")
    response = post_signed(client, PULSES, body, key=key, serial="S-0001", headers=headers)
    assert_refused(response, status=401, reason="missing_signature", key_id="S-0001")


def test_signature_must_cover_content_type(client, sensor, key):
    """Signed by the library but without content-type: refused as incompletely signed."""

    class Resolver(HTTPSignatureKeyResolver):
        def resolve_private_key(self, key_id):
            return key

    class Message:
        method = "POST"
        url = "http://testserver" + PULSES

        def __init__(self):
            self.headers = {"Content-Type": "application/json"}

    body = encode(batch(1))
    message = Message()
    HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=Resolver()).sign(
        message,
        key_id="S-0001",
        nonce="a-valid-nonce-42",
        covered_component_ids=("@method", "@target-uri", "content-digest"),
        body=body,
    )
    response = post_signed(
        client, PULSES, body, key=key, serial="S-0001", headers=dict(message.headers)
    )
    assert_refused(response, status=401, reason="missing_components", key_id="S-0001")


def test_used_nonces_are_purged_after_the_window(sensor, key, settings):
    old = UsedNonce.objects.create(sensor=sensor, nonce="old-nonce-1")
    UsedNonce.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    UsedNonce.objects.create(sensor=sensor, nonce="fresh-nonce-1")
    assert used_nonces_purge() == 1
    assert list(UsedNonce.objects.values_list("nonce", flat=True)) == ["fresh-nonce-1"]


def test_bodyless_get_needs_no_content_type(rf, sensor, key):
    """GET requests (audio requests, later) sign method, target URI and the empty digest."""
    from apps.sensors.signatures import SignatureRefused, verify_sensor_request

    path = "/api/v1/sensor/audio-requests?state=pending"
    headers = signed_headers(
        path=path, body=b"", key=key, serial="S-0001", method="GET", content_type=None
    )
    assert "Content-Type" not in headers
    request = rf.get(path, headers=headers)
    assert verify_sensor_request(request=request) == sensor

    tampered = rf.get("/api/v1/sensor/audio-requests?state=all", headers=headers)
    with pytest.raises(SignatureRefused, match="bad_signature"):
        verify_sensor_request(request=tampered)
