"""Signatures of dispatch webhooks.

Every POST carries::

    X-ShotSpotter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

where ``body`` is the exact request body (UTF-8 JSON bytes) and ``secret`` the endpoint's
secret as shown once when it was made. A receiver verifies it by:

1. splitting the header on "," into ``t`` and ``v1`` (ignore other keys, so new schemes
   can be added beside ``v1``);
2. refusing a ``t`` more than 5 minutes from its own clock (replays);
3. computing ``hmac_sha256(secret, f"{t}.".encode() + raw_body).hexdigest()`` and
   comparing it with ``v1`` in constant time (``hmac.compare_digest``).

``X-ShotSpotter-Delivery`` is the same for every retry of one delivery (idempotency key);
``X-ShotSpotter-Event`` is ``incident.published``, ``incident.updated`` or
``incident.cancelled``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-ShotSpotter-Signature"
TOLERANCE_S = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"
