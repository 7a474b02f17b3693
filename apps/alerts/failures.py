"""What a failed webhook POST means, in words an agency super user can act on.

``WebhookDelivery.error`` keeps the raw text it has always kept (``"<exception class>:
<message>"`` from ``requests``, ``"HTTP 503"``, ``"Not sent: ..."``, ``" (gave up)"`` after
the last attempt); that is a Python exception's repr with connection-pool internals, not
something to show. The delivery log on the endpoint's page shows ``failure_message`` of it
instead; the raw text stays in the database for platform staff. Works on rows stored
before this module existed, since it reads only that text.
"""

from __future__ import annotations

import re
from http import HTTPStatus

GAVE_UP = " (gave up)"
# Appended when a retry was due but nothing could run it later (embedded mode).
NOT_RETRIED = " (not retried: tasks run in-process)"
NOT_SENT = "Not sent: "

_HOST = re.compile(r"host='([^']*)'")
# The server's own look-up before the POST (a POST pinned to the vetted addresses).
_LOOKUP = re.compile(r"Looking up (\S+) (?:failed|gave no address)")
_READ_TIMEOUT = re.compile(r"read timeout=([0-9.]+)\)")
_DNS = (
    "NameResolutionError",
    "Failed to resolve",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Temporary failure in name resolution",
    "No address associated with hostname",
    "gave no address",
)
_REFUSED = ("Connection refused", "Errno 111]", "ConnectionRefusedError")
_UNREACHABLE = ("Network is unreachable", "No route to host", "Host is unreachable")
_CLOSED = ("Connection aborted", "RemoteDisconnected", "Connection reset", "BadStatusLine")
_TLS_REASONS = (
    (
        "CERTIFICATE_VERIFY_FAILED",
        "its certificate is not trusted (expired, self-signed or issued for another name)",
    ),
    ("Hostname mismatch", "its certificate is issued for another host name"),
    ("WRONG_VERSION_NUMBER", "it did not answer in TLS (is the port plain http?)"),
    ("UNSUPPORTED_PROTOCOL", "it offers only an outdated TLS version"),
    ("HANDSHAKE_FAILURE", "the TLS handshake failed (no common cipher or protocol)"),
)


def _host(raw: str) -> str:
    match = _HOST.search(raw) or _LOOKUP.search(raw)
    return match.group(1) if match else ""


def _http_status_message(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"The receiver answered HTTP {status}" + (f" ({phrase})." if phrase else ".")


def _network_message(raw: str) -> str:
    kind, _, _ = raw.partition(":")
    host = _host(raw)
    at = f" {host}" if host else " the receiver"
    if kind == "ConnectTimeout":
        return f"Timed out: could not connect to{at} within the time limit."
    if kind in ("ReadTimeout", "Timeout"):
        limit = _READ_TIMEOUT.search(raw)
        within = f"within {float(limit.group(1)):g} s" if limit else "in time"
        return f"Timed out: {at.strip()} accepted the connection but did not answer {within}."
    if kind == "SSLError" or "SSLError" in raw or "CERTIFICATE_VERIFY_FAILED" in raw:
        for marker, reason in _TLS_REASONS:
            if marker in raw:
                return f"TLS error: no secure connection to{at}: {reason}."
        return f"TLS error: no secure connection to{at}."
    if any(marker in raw for marker in _DNS):
        return f"DNS failure: the host name{at} could not be resolved."
    if any(marker in raw for marker in _REFUSED):
        return f"Connection refused by{at}: nothing accepts connections at that port."
    if any(marker in raw for marker in _UNREACHABLE):
        return f"Network unreachable: no route to{at}."
    if any(marker in raw for marker in _CLOSED):
        return f"Connection closed by{at} before it answered."
    if kind in ("InvalidURL", "MissingSchema", "InvalidSchema"):
        return "The endpoint's URL is not valid."
    if kind == "ChunkedEncodingError":
        return f"The answer of{at} was cut off."
    if kind == "ProxyError":
        return "Proxy error: the outgoing proxy did not reach the receiver."
    return f"Network error: the POST to{at} failed before any answer."


def failure_message(*, error: str, response_status: int | None = None, attempt: int = 1) -> str:
    """A one-line, human description of ``error`` ('' when there is none)."""
    raw = (error or "").strip()
    if not raw:
        return ""
    gave_up = raw.endswith(GAVE_UP)
    if gave_up:
        raw = raw[: -len(GAVE_UP)].rstrip()
    not_retried = raw.endswith(NOT_RETRIED)
    if not_retried:
        raw = raw[: -len(NOT_RETRIED)].rstrip()
    if raw.startswith(NOT_SENT):
        # The private-address guard's refusal, already written for the agency.
        text = "Not sent (refused by the private-address guard): " + raw[len(NOT_SENT) :]
    elif raw == "Endpoint deactivated.":
        text = "Not sent: the endpoint was deactivated."
    elif re.fullmatch(r"HTTP \d{3}", raw) or response_status:
        status = response_status or int(raw.split()[1])
        text = _http_status_message(status)
    else:
        text = _network_message(raw)
    if not_retried:
        text += (
            " Not retried: this server runs its tasks in-process (embedded mode, as under "
            "make run), with no worker to retry later."
        )
    if gave_up:
        text += f" Gave up after {attempt} attempt{'' if attempt == 1 else 's'}."
    return text
