"""Signed HTTP to the sensor API: every request carries an RFC 9421 signature.

Signatures come from ``apps.sensors.signing`` (Ed25519, key id = serial, covering the
method, target URI, content digest and content type, with ``created`` and a nonce). A
request that carries the start time of an audio clip also covers that header.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field

import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from apps.sensors import signing

PULSES_PATH = "/api/v1/sensor/pulses"
HEARTBEAT_PATH = "/api/v1/sensor/heartbeat"
AUDIO_REQUESTS_PATH = "/api/v1/sensor/audio-requests"
AUDIO_START_HEADER = "Audio-Start-UTC"


class Unreachable(Exception):
    """No HTTP answer: connection refused, DNS, TLS or timeout."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str
    # The reply's headers (case-insensitive) and the nonce the request was signed with:
    # a signed server answer must echo it (audio requests).
    headers: dict = field(default_factory=dict)
    nonce: str = ""

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def detail(self) -> str:
        """A short description of a problem+json (or any) reply, for logs."""
        try:
            data = self.json()
        except (ValueError, UnicodeDecodeError):
            return self.body[:300].decode("utf-8", "replace")
        if isinstance(data, dict):
            parts = [str(data.get(k)) for k in ("title", "detail") if data.get(k)]
            if data.get("errors"):
                parts.append(json.dumps(data["errors"])[:500])
            return ": ".join(parts) or json.dumps(data)[:500]
        return json.dumps(data)[:500]


def utc_iso(epoch: float) -> str:
    """Epoch seconds -> ISO-8601 UTC with microseconds and a trailing Z."""
    when = dt.datetime.fromtimestamp(round(epoch, 6), tz=dt.UTC)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_utc(text) -> float:
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO-8601 time, got {text!r}")
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time without a time zone: {text!r}")
    return value.timestamp()


class SensorClient:
    def __init__(
        self,
        *,
        server_url: str,
        serial: str,
        private_key: ed25519.Ed25519PrivateKey,
        timeout_s: float = 10.0,
        session: requests.Session | None = None,
    ):
        self.server_url = server_url.rstrip("/")
        self.serial = serial
        self.private_key = private_key
        self.timeout_s = timeout_s
        self.session = session or requests.Session()

    def url(self, path: str) -> str:
        return self.server_url + path

    def _signed_headers(
        self,
        *,
        method: str,
        url: str,
        body: bytes,
        content_type: str | None,
        extra: dict,
        nonce: str,
    ) -> dict[str, str]:
        # Extra headers (the clip's start time) are sent and covered by the signature too.
        return signing.sign_request(
            method=method,
            url=url,
            body=body,
            content_type=content_type,
            serial=self.serial,
            private_key=self.private_key,
            nonce=nonce,
            extra_headers=extra or None,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: dict | None = None,
    ) -> Reply:
        url = self.url(path)
        nonce = secrets.token_urlsafe(18)
        headers = self._signed_headers(
            method=method,
            url=url,
            body=body,
            content_type=content_type,
            extra=extra_headers or {},
            nonce=nonce,
        )
        try:
            response = self.session.request(
                method,
                url,
                data=body or None,
                headers=headers,
                timeout=self.timeout_s,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise Unreachable(f"{method} {url}: {error.__class__.__name__}: {error}") from error
        return Reply(
            status=response.status_code,
            body=response.content,
            content_type=response.headers.get("Content-Type", ""),
            headers=response.headers,
            nonce=nonce,
        )

    def post_json(self, path: str, payload) -> Reply:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self.request("POST", path, body=body, content_type="application/json")

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def put_wav(self, path: str, wav: bytes, *, start_epoch: float) -> Reply:
        return self.request(
            "PUT",
            path,
            body=wav,
            content_type="audio/wav",
            extra_headers={AUDIO_START_HEADER: utc_iso(start_epoch)},
        )
