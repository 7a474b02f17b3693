"""Server side of the sensor signatures: verify an incoming Django request (RFC 9421).

``verify_sensor_request`` returns the sensor or raises ``SignatureRefused`` with a reason
code and the HTTP status to answer. Cryptography and the signature base are the
``http-message-signatures`` library's; this module adds the sensor registry, the 30 s
freshness window, the required components and replay protection.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import http_sf
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils import timezone
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

from apps.sensors import services
from apps.sensors.conf import sensor_setting
from apps.sensors.models import RefusalReason, Sensor
from apps.sensors.selectors import sensor_get_by_serial
from apps.sensors.signing import SIGNED_COMPONENTS, SIGNED_COMPONENTS_NO_BODY, load_public_key

BODYLESS_METHODS = {"GET", "HEAD", "DELETE", "OPTIONS"}


@dataclass
class SignatureRefused(Exception):
    reason: str
    status_code: int
    detail: str
    key_id: str = ""
    sensor: Sensor | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class _DjangoMessage:
    """A Django request in the shape the library reads (method, absolute url, headers)."""

    def __init__(self, request: HttpRequest):
        self.method = request.method
        self.url = request.build_absolute_uri()
        self.headers = request.headers


class _SensorKeyResolver(HTTPSignatureKeyResolver):
    def __init__(self, sensor: Sensor):
        self.sensor = sensor

    def resolve_public_key(self, key_id: str):
        if key_id != self.sensor.serial_number:
            return None
        return load_public_key(self.sensor.public_key)

    def resolve_private_key(self, key_id: str):  # the server never signs as a sensor
        raise KeyError(key_id)


class _Verifier(HTTPMessageVerifier):
    def __init__(self, sensor: Sensor):
        super().__init__(
            signature_algorithm=algorithms.ED25519, key_resolver=_SensorKeyResolver(sensor)
        )
        self.max_clock_skew = dt.timedelta(seconds=sensor_setting("SENSOR_SIGNATURE_MAX_FUTURE_S"))


def _signature_parameters(request: HttpRequest) -> dict:
    """The parameters of the single signature on the request (not yet trusted)."""
    sig_input = request.headers.get("Signature-Input")
    if not sig_input or not request.headers.get("Signature"):
        raise SignatureRefused(
            RefusalReason.MISSING_SIGNATURE, 401, "Signature-Input and Signature are required."
        )
    try:
        parsed = http_sf.parse(sig_input.encode("latin-1"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SignatureRefused(
            RefusalReason.MISSING_SIGNATURE, 401, "Signature-Input is malformed."
        ) from exc
    if len(parsed) != 1:
        raise SignatureRefused(
            RefusalReason.MISSING_SIGNATURE, 401, "Exactly one signature is expected."
        )
    ((_label, (_components, params)),) = parsed.items()
    return dict(params)


def verify_sensor_request(*, request: HttpRequest, now: dt.datetime | None = None) -> Sensor:
    """Authenticate a sensor request or raise ``SignatureRefused`` (not logged here)."""
    now = now or timezone.now()
    max_body = sensor_setting("SENSOR_API_MAX_BODY_BYTES")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = max_body + 1
    too_large = SignatureRefused(
        RefusalReason.TOO_LARGE, 413, f"The body exceeds {max_body} bytes."
    )
    if length > max_body:
        raise too_large
    try:
        body = request.body  # needed for the digest; ASGI may give no Content-Length
    except RequestDataTooBig as exc:
        raise too_large from exc
    if len(body) > max_body:
        raise too_large

    params = _signature_parameters(request)
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or not key_id:
        raise SignatureRefused(RefusalReason.MISSING_SIGNATURE, 401, "keyid is required.")
    created = params.get("created")
    if type(created) is not int:
        raise SignatureRefused(
            RefusalReason.MISSING_SIGNATURE, 401, "created is required.", key_id=key_id
        )
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 128:
        raise SignatureRefused(
            RefusalReason.MISSING_SIGNATURE,
            401,
            "nonce is required (8 to 128 characters).",
            key_id=key_id,
        )
    age = now.timestamp() - created
    if age > sensor_setting("SENSOR_SIGNATURE_MAX_AGE_S"):
        raise SignatureRefused(
            RefusalReason.STALE, 401, f"The signature is {age:.0f} s old.", key_id=key_id
        )
    if -age > sensor_setting("SENSOR_SIGNATURE_MAX_FUTURE_S"):
        raise SignatureRefused(
            RefusalReason.FUTURE,
            401,
            f"The signature is created {-age:.0f} s in the future; check the sensor clock.",
            key_id=key_id,
        )

    sensor = sensor_get_by_serial(serial=key_id)
    if sensor is None:
        raise SignatureRefused(RefusalReason.UNKNOWN_SENSOR, 401, "Unknown key id.", key_id=key_id)

    bodyless = request.method in BODYLESS_METHODS and not body
    required = SIGNED_COMPONENTS_NO_BODY if bodyless else SIGNED_COMPONENTS
    message = _DjangoMessage(request)
    verifier = _Verifier(sensor)
    try:
        results = verifier.verify(message, max_age=None, require_components=required)
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        text = str(exc)
        reason = (
            RefusalReason.MISSING_COMPONENTS
            if "was not covered" in text
            else RefusalReason.BAD_SIGNATURE
        )
        raise SignatureRefused(
            reason, 401, f"The signature does not verify: {text}", key_id=key_id, sensor=sensor
        ) from exc
    try:
        verifier.verify_body(message, results, body)
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        raise SignatureRefused(
            RefusalReason.DIGEST_MISMATCH,
            401,
            "The body does not match its signed Content-Digest.",
            key_id=key_id,
            sensor=sensor,
        ) from exc

    if not sensor.accepts_requests:
        raise SignatureRefused(
            RefusalReason.SENSOR_NOT_ACTIVE,
            403,
            f"The sensor is {sensor.status}.",
            key_id=key_id,
            sensor=sensor,
        )
    if not services.nonce_consume(sensor=sensor, nonce=nonce):
        raise SignatureRefused(
            RefusalReason.REPLAYED_NONCE,
            401,
            "The nonce was used before.",
            key_id=key_id,
            sensor=sensor,
        )
    return sensor
