"""What a failed webhook POST or alert e-mail means, in words an agency super user can act on.

``WebhookDelivery.error`` keeps the raw text it has always kept (``"<exception class>:
<message>"`` from ``requests``, ``"HTTP 503"``, ``"Not sent: ..."``, ``" (gave up)"`` after
the last attempt); that is a Python exception's repr with connection-pool internals, not
something to show. The delivery log on the endpoint's page shows ``failure_message`` of it
instead; the raw text stays in the database for platform staff. Works on rows stored
before this module existed, since it reads only that text.

``Notification.error`` (and ``EmailDestination.last_error``) likewise keep what
``services.smtp_failure`` made of the exception: ``"<SMTP code> <server's reply>"`` for a
reply (a refused recipient, sender, log-in or message), ``"<exception class>: <message>"``
for a connection that failed, with the same suffixes. ``email_failure_message`` reads it
with the same network vocabulary, speaking of "the mail server" instead of a host.
"""

from __future__ import annotations

import re
from http import HTTPStatus

# What ``apps.alerts.services`` writes into ``error`` (and what is read back here).
GAVE_UP = " (gave up)"  # appended after the last attempt
# Appended when a retry was due but nothing could run it later (embedded mode).
NOT_RETRIED = " (not retried: tasks run in-process)"
NOT_SENT = "Not sent: "  # followed by the private-address guard's refusal
ENDPOINT_DEACTIVATED = "Endpoint deactivated."

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
    ("WRONG_VERSION_NUMBER", "it did not answer in TLS (is the port plain {plain}?)"),
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


def _network_message(
    raw: str,
    *,
    peer: str = "the receiver",
    fallback: str = "Network error: the POST to {peer} failed before any answer.",
    plain: str = "http",
) -> str:
    """``raw`` (``"<exception class>: <message>"``) as a sentence about ``peer`` (or the
    host named in ``raw``)."""
    kind, _, _ = raw.partition(":")
    host = _host(raw)
    at = f" {host}" if host else f" {peer}"
    if kind == "ConnectTimeout":
        return f"Timed out: could not connect to{at} within the time limit."
    if kind in ("ReadTimeout", "Timeout"):
        limit = _READ_TIMEOUT.search(raw)
        within = f"within {float(limit.group(1)):g} s" if limit else "in time"
        return f"Timed out: {at.strip()} accepted the connection but did not answer {within}."
    if kind in ("TimeoutError", "timeout", "socket.timeout"):
        return f"Timed out: no answer from{at} within the time limit."
    if kind.startswith("SSL") or "SSLError" in raw or "CERTIFICATE_VERIFY_FAILED" in raw:
        for marker, reason in _TLS_REASONS:
            if marker in raw:
                return f"TLS error: no secure connection to{at}: {reason.format(plain=plain)}."
        return f"TLS error: no secure connection to{at}."
    if any(marker in raw for marker in _DNS):
        name = f" {host}" if host else f" of {peer}"
        return f"DNS failure: the host name{name} could not be resolved."
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
    return fallback.format(peer=at.strip())


def _outcome(raw: str) -> tuple[str, bool, bool]:
    """(``raw`` without its suffixes, gave up?, not retried?)."""
    gave_up = raw.endswith(GAVE_UP)
    if gave_up:
        raw = raw[: -len(GAVE_UP)].rstrip()
    not_retried = raw.endswith(NOT_RETRIED)
    if not_retried:
        raw = raw[: -len(NOT_RETRIED)].rstrip()
    return raw, gave_up, not_retried


def _with_outcome(text: str, *, gave_up: bool, not_retried: bool, attempt: int) -> str:
    if not_retried:
        text += (
            " Not retried: this server runs its tasks in-process (embedded mode, as under "
            "make run), with no worker to retry later."
        )
    if gave_up:
        text += f" Gave up after {attempt} attempt{'' if attempt == 1 else 's'}."
    return text


def failure_message(*, error: str, response_status: int | None = None, attempt: int = 1) -> str:
    """A one-line, human description of a webhook ``error`` ('' when there is none)."""
    raw = (error or "").strip()
    if not raw:
        return ""
    raw, gave_up, not_retried = _outcome(raw)
    if raw.startswith(NOT_SENT):
        # The private-address guard's refusal, already written for the agency.
        text = "Not sent (refused by the private-address guard): " + raw[len(NOT_SENT) :]
    elif raw == ENDPOINT_DEACTIVATED:
        text = "Not sent: the endpoint was deactivated."
    elif re.fullmatch(r"HTTP \d{3}", raw) or response_status:
        status = response_status or int(raw.split()[1])
        text = _http_status_message(status)
    else:
        text = _network_message(raw)
    return _with_outcome(text, gave_up=gave_up, not_retried=not_retried, attempt=attempt)


# --- Alert e-mails (SMTP) ---------------------------------------------------------------------

MAIL_SERVER = "the mail server"
# Prefix of a skipped attempt's error (services._notification).
MARKED_FAILED = "Address marked permanently failed: "
_NOT_THE_ADDRESS = " The address is not at fault: platform staff must fix the mail settings."
_REPLY = re.compile(r"(\d{3})(?:[ -](.*))?", re.DOTALL)
# RFC 3463 enhanced status code at the start of the server's reply: class.subject.detail.
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})\b")
_ADDRESS_PREFIX = re.compile(r"<[^>]*>:?\s*")
_SHORT = 120
# Codes and words of a refused log-in (RFC 4954: 530, 534, 535, 538; X.7.8 and friends).
_AUTH_CODES = (530, 534, 535, 538)
_AUTH_DETAILS = ((7, 8), (7, 9), (7, 11), (7, 12))
_AUTH_WORDS = ("authenticat", "auth ", "credentials", "password", "login", "log-in")
_SIZE_DETAILS = ((3, 4), (2, 3))
_SIZE_WORDS = ("too large", "too big", "size exceed", "exceeds", "too much mail data", "size limit")
_SENDER_DETAILS = ((1, 7), (1, 8))
_SENDER_WORDS = ("sender", "mail from", "from address", "return-path")
_RECIPIENT_WORDS = ("recipient", "user unknown", "no such user", "unknown user", "mailbox")
_SMTP_CLOSED = ("SMTPServerDisconnected", "Connection unexpectedly closed")
# What the SMTP client raises for the connection itself (the rest is a bug in the platform).
_NETWORK_KINDS = (
    "OSError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "ConnectionAbortedError",
    "BrokenPipeError",
    "TimeoutError",
    "timeout",
    "socket.timeout",
    "gaierror",
    "herror",
    "SMTPServerDisconnected",
    "SMTPConnectError",
    "SMTPNotSupportedError",
    "SMTPException",
)


def _smtp_reply(raw: str, smtp_code: int | None) -> tuple[int, str] | None:
    """(code, reply text) of a stored ``"<code> <reply>"``; None for a connection error."""
    match = _REPLY.fullmatch(raw)
    if match and 200 <= int(match.group(1)) < 600:
        return int(match.group(1)), (match.group(2) or "").strip()
    if smtp_code:
        return smtp_code, raw
    return None


def _reply_words(code: int, reply: str) -> str:
    """``"SMTP 550 5.1.1: User unknown"``: the code, enhanced code and a short reply."""
    enhanced = _ENHANCED.match(reply)
    text = reply[enhanced.end() :] if enhanced else reply
    text = " ".join(text.split())  # multi-line replies read as one line
    text = _ADDRESS_PREFIX.sub("", text, count=1) if text.startswith("<") else text
    text = text.strip(" .:-")
    if len(text) > _SHORT:
        text = text[: _SHORT - 1].rstrip() + "…"
    label = f"SMTP {code}" + (f" {enhanced.group(0)}" if enhanced else "")
    return f"{label}: {text}" if text else label


def smtp_refusal_kind(code: int, reply: str) -> str:
    """What the server refused: "auth", "size", "sender", "recipient" or "" (unknown).

    An enhanced status code (RFC 3463) decides where it is specific; a policy one (X.7.x,
    used for both addresses), a generic one or none leaves it to the reply's words."""
    lowered = reply.lower()
    enhanced = _ENHANCED.match(reply)
    detail = (int(enhanced.group(2)), int(enhanced.group(3))) if enhanced else None
    if code in _AUTH_CODES or detail in _AUTH_DETAILS or (code == 454 and "auth" in lowered):
        return "auth"
    if detail in _SIZE_DETAILS:
        return "size"
    if detail in _SENDER_DETAILS:
        return "sender"
    if detail and detail[0] in (1, 2):
        return "recipient"
    if detail and detail[0] not in (0, 7):
        return ""
    for kind, words in (
        ("auth", _AUTH_WORDS),
        ("size", _SIZE_WORDS),
        ("sender", _SENDER_WORDS),
        ("recipient", _RECIPIENT_WORDS),
    ):
        if any(word in lowered for word in words):
            return kind
    return ""


def _smtp_reply_message(code: int, reply: str) -> str:
    words = _reply_words(code, reply)
    temporary = 400 <= code < 500
    refused = "temporarily refused" if temporary else "refused"
    kind = smtp_refusal_kind(code, reply)
    if kind == "auth":
        return f"The mail server {refused} the platform's log-in ({words})." + _NOT_THE_ADDRESS
    if kind == "size":
        return f"The mail server {refused} the message as too large ({words})."
    if kind == "sender":
        return f"The mail server {refused} the sender address ({words})." + _NOT_THE_ADDRESS
    if kind == "recipient" and not temporary:
        return (
            f"The mail server refused the recipient address ({words}); "
            "no alerts go to it until someone clicks “Address works again”."
        )
    if kind == "recipient":
        return f"The mail server temporarily refused the recipient address ({words})."
    if temporary:
        return f"The mail server deferred the message ({words})."
    return f"The mail server refused the message ({words})."


def _smtp_connection_message(raw: str) -> str:
    kind, _, detail = raw.partition(":")
    if kind == "SMTPNotSupportedError" and "STARTTLS" in detail:
        return "TLS error: the mail server does not offer STARTTLS." + _NOT_THE_ADDRESS
    if kind == "SMTPNotSupportedError" and "AUTH" in detail:
        return "The mail server does not offer log-in (SMTP AUTH)." + _NOT_THE_ADDRESS
    if any(marker in raw for marker in _SMTP_CLOSED):
        return "Connection closed by the mail server before it answered." + _NOT_THE_ADDRESS
    if kind not in _NETWORK_KINDS and not kind.startswith("SSL"):
        # services._send_rows' catch-all: the e-mail could not be built or sent.
        return "The platform could not send this e-mail (an internal error; staff have details)."
    text = _network_message(
        raw,
        peer=MAIL_SERVER,
        fallback="Network error: the connection to {peer} failed.",
        plain="SMTP",
    )
    return text + _NOT_THE_ADDRESS


def email_failure_message(
    *, error: str, smtp_code: int | None = None, attempt: int = 1, skipped: bool = False
) -> str:
    """A one-line, human description of an alert e-mail's ``error`` ('' when there is none).

    ``skipped``: the attempt was not made because the address had already refused mail
    permanently (its ``error`` is then the address's last error)."""
    raw = (error or "").strip()
    if not raw:
        return ""
    if raw.startswith(MARKED_FAILED) or skipped:
        if raw.startswith(MARKED_FAILED):
            raw = raw[len(MARKED_FAILED) :].strip()
        reply = _smtp_reply(_outcome(raw)[0], None)
        return (
            "Not sent: this address refused mail permanently before"
            + (f" ({_reply_words(*reply)})" if reply else "")
            + ". Click “Address works again” once it is fixed."
        )
    raw, gave_up, not_retried = _outcome(raw)
    reply = _smtp_reply(raw, smtp_code)
    text = _smtp_reply_message(*reply) if reply else _smtp_connection_message(raw)
    return _with_outcome(text, gave_up=gave_up, not_retried=not_retried, attempt=attempt)
