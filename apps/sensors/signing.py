"""Client side of the sensor API signatures, free of Django (used by agents and the simulator).

Every request is signed with RFC 9421 HTTP Message Signatures using the sensor's Ed25519
key: key id = serial number, covering ``@method``, ``@target-uri``, ``content-digest``
(RFC 9530, sha-256) and ``content-type``, with ``created`` and a fresh ``nonce``::

    headers = sign_request(method="POST", url=url, body=body,
                           content_type="application/json", serial="S-1", private_key=key)
    requests.post(url, data=body, headers=headers)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

SIGNATURE_LABEL = "sensor"
SIGNED_COMPONENTS = ("@method", "@target-uri", "content-digest", "content-type")
# Requests without a body (GET) sign the digest of the empty body but carry no type.
SIGNED_COMPONENTS_NO_BODY = ("@method", "@target-uri", "content-digest")


class KeyFormatError(ValueError):
    """The text is not an Ed25519 key in a supported format."""


class _Message:
    """The minimal request shape http-message-signatures reads: method, url, headers."""

    def __init__(self, *, method: str, url: str, headers: dict[str, str]):
        self.method = method
        self.url = url
        self.headers = headers


class _OneKeyResolver(HTTPSignatureKeyResolver):
    def __init__(self, *, key_id: str, private_key: ed25519.Ed25519PrivateKey):
        self.key_id = key_id
        self.private_key = private_key

    def resolve_private_key(self, key_id: str):
        if key_id != self.key_id:
            raise KeyError(key_id)
        return self.private_key

    def resolve_public_key(self, key_id: str):
        return self.private_key.public_key() if key_id == self.key_id else None


def sign_request(
    *,
    method: str,
    url: str,
    body: bytes,
    content_type: str | None,
    serial: str,
    private_key: ed25519.Ed25519PrivateKey | bytes,
    created: dt.datetime | None = None,
    nonce: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers to send with the request: Content-Type, Content-Digest and the signature.

    ``url`` must be exactly the URL the request goes to (scheme, host, port, path, query).
    ``created`` and ``nonce`` default to now and a random 144-bit value. ``extra_headers``
    are sent and covered by the signature too (e.g. ``Audio-Start-UTC`` of an audio upload).
    """
    key = private_key if isinstance(private_key, ed25519.Ed25519PrivateKey) else None
    if key is None:
        key = load_private_key_pem(private_key)
    headers: dict[str, str] = {}
    if content_type:
        headers["Content-Type"] = content_type
    extra = dict(extra_headers or {})
    headers.update(extra)
    message = _Message(method=method.upper(), url=url, headers=headers)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=_OneKeyResolver(key_id=serial, private_key=key),
    )
    signer.sign(
        message,
        key_id=serial,
        created=created or dt.datetime.now(dt.UTC),
        nonce=nonce or secrets.token_urlsafe(18),
        label=SIGNATURE_LABEL,
        covered_component_ids=(
            *(SIGNED_COMPONENTS if content_type else SIGNED_COMPONENTS_NO_BODY),
            *(name.lower() for name in extra),
        ),
        body=body,
    )
    return dict(message.headers)


# --- Keys ----------------------------------------------------------------------------------


def generate_private_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def private_key_pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_private_key_pem(data: bytes) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("not an unencrypted PEM private key") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFormatError("the private key is not an Ed25519 key")
    return key


def public_key_b64(key: ed25519.Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64: the form the registry stores."""
    raw = key.public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode("ascii")


def load_public_key(text: str | bytes) -> ed25519.Ed25519PublicKey:
    """Read an Ed25519 public key given as PEM (SubjectPublicKeyInfo) or raw 32 bytes base64."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    data = data.strip()
    if data.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise KeyFormatError("not a PEM public key") from exc
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KeyFormatError("the public key is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("neither PEM nor base64") from exc
    if len(raw) != 32:
        raise KeyFormatError(f"a raw Ed25519 public key has 32 bytes, not {len(raw)}")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


def public_key_pem(key: ed25519.Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM: the form a sensor is provisioned with (server key)."""
    return key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def load_public_keys(text: str | bytes) -> list[ed25519.Ed25519PublicKey]:
    """One or more Ed25519 public keys: PEM blocks and/or raw base64 lines (``#`` comments).

    A sensor trusts every key in its server key file, so a new server key can be added
    before the server switches to it and the old one removed afterwards (rotation).
    """
    data = text.decode("ascii", "replace") if isinstance(text, bytes) else str(text)
    keys: list[ed25519.Ed25519PublicKey] = []
    block: list[str] | None = None
    for number, raw_line in enumerate(data.splitlines(), start=1):
        line = raw_line.strip()
        if block is not None:
            block.append(line)
            if line.startswith("-----END"):
                keys.append(load_public_key("\n".join(block)))
                block = None
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("-----BEGIN"):
            block = [line]
            continue
        try:
            keys.append(load_public_key(line))
        except KeyFormatError as error:
            raise KeyFormatError(f"line {number}: {error}") from None
    if block is not None:
        raise KeyFormatError("a PEM block has no END line")
    if not keys:
        raise KeyFormatError("no public key found")
    return keys


# --- The server's answers to a sensor (audio requests) ---------------------------------------

# The poll answer's body is signed as it is sent, with this context in front (so a
# signature made for anything else can never pass for one), and carried in this header.
SERVER_SIGNATURE_HEADER = "Server-Signature"
AUDIO_REQUESTS_CONTEXT = b"shotspotter audio-requests v1\n"
_SERVER_SIGNATURE_PREFIX = "ed25519=:"


def sign_server_answer(*, body: bytes, private_key: ed25519.Ed25519PrivateKey) -> str:
    """The ``Server-Signature`` value for an audio-requests answer: ``ed25519=:<base64>:``."""
    signature = private_key.sign(AUDIO_REQUESTS_CONTEXT + body)
    return f"{_SERVER_SIGNATURE_PREFIX}{base64.b64encode(signature).decode('ascii')}:"


def server_answer_signed(
    *, body: bytes, header: str | None, public_keys: list[ed25519.Ed25519PublicKey]
) -> bool:
    """True when ``header`` is a valid signature of ``body`` by one of ``public_keys``."""
    if not header:
        return False
    header = header.strip()
    if not (header.startswith(_SERVER_SIGNATURE_PREFIX) and header.endswith(":")):
        return False
    try:
        signature = base64.b64decode(header[len(_SERVER_SIGNATURE_PREFIX) : -1], validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(signature) != 64:
        return False
    for key in public_keys:
        try:
            key.verify(signature, AUDIO_REQUESTS_CONTEXT + body)
        except InvalidSignature:
            continue
        return True
    return False
