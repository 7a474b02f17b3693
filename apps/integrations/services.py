"""Writes for API tokens: create (the plain token is returned once), revoke, authenticate."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.models import Agency
from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.core.cache import subtract_or_delete
from apps.integrations.conf import integration_setting
from apps.integrations.models import ApiToken

logger = logging.getLogger("apps.integrations")

TOKEN_SCHEME = "sso"  # "ShotSpotter Open": makes leaked tokens easy to recognise and scan for
NAME_MAX = 100
# last_used_at is written at most this often per token (not on every request).
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    plaintext: str


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_token_create(*, agency: Agency, name: str, created_by=None, request=None) -> CreatedToken:
    """A new token for ``agency``; the plaintext is in the result and never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("A token needs a name (what uses it, e.g. 'CAD east').")
    if len(name) > NAME_MAX:
        raise ValidationError(f"A token name is at most {NAME_MAX} characters.")
    prefix = secrets.token_hex(6)
    plaintext = f"{TOKEN_SCHEME}_{prefix}.{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            agency=agency,
            name=name,
            prefix=prefix,
            secret_hash=_hash(plaintext),
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        record_event(
            action="integrations.api_token_created",
            actor=created_by,
            agency=agency,
            target=token,
            request=request,
            details={"name": name, "prefix": prefix},
        )
    return CreatedToken(token=token, plaintext=plaintext)


def api_token_revoke(*, token: ApiToken, revoked_by=None, request=None) -> ApiToken:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        token.refresh_from_db()
        if updated:
            record_event(
                action="integrations.api_token_revoked",
                actor=revoked_by,
                agency=token.agency,
                target=token,
                request=request,
                details={"name": token.name, "prefix": token.prefix},
            )
    return token


class TokenRefused(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def api_token_authenticate(*, plaintext: str, now: dt.datetime | None = None) -> ApiToken:
    """The active token behind ``plaintext``; raises ``TokenRefused`` otherwise.

    Lookup by the public prefix, then a constant-time comparison of the hashes.
    """
    scheme, _, rest = plaintext.partition("_")
    prefix, dot, _secret = rest.partition(".")
    if scheme != TOKEN_SCHEME or not dot or not prefix:
        raise TokenRefused("The API token is malformed.")
    token = ApiToken.objects.select_related("agency").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(plaintext)):
        raise TokenRefused("The API token is not valid.")
    if token.revoked_at is not None:
        raise TokenRefused("The API token was revoked.")
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int


def api_token_rate_check(*, token: ApiToken, now: float | None = None) -> RateDecision:
    """Count one request against the token's fixed window (the shared cache: Redis)."""
    import time

    limit = integration_setting("INTEGRATION_API_RATE_LIMIT")
    window = integration_setting("INTEGRATION_API_RATE_WINDOW_S")
    now = time.time() if now is None else now
    slot = int(now // window)
    key = f"integrations:rate:{token.prefix}:{slot}"
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        count = 1
    retry_after = max(1, int((slot + 1) * window - now + 0.999))
    return RateDecision(allowed=count <= limit, retry_after_s=retry_after)


# --- Audit of what a token reads ------------------------------------------------------------

AUDIT_INCIDENTS_LISTED = "integrations.incidents_listed"
AUDIT_INCIDENT_READ = "integrations.incident_read"
AUDIT_CAP_FEED_READ = "integrations.cap_feed_read"
AUDIT_CAP_DOCUMENT_READ = "integrations.cap_document_read"
# ``since`` moves on with every poll by design; two polls that differ only there are the
# same question. Everything else in the query (status, type, page...) makes another one.
AUDIT_KEY_IGNORES = ("since",)
AUDIT_QUERY_MAX_PARAMS = 20
AUDIT_QUERY_MAX_CHARS = 200
# How long the count of unrecorded repeats waits for the next record of the same request.
AUDIT_REPEAT_TTL_S = 7 * 24 * 3600


def _audit_text(value) -> str:
    """Cut to 200 chars; NUL (which PostgreSQL text and JSON cannot hold) spelled out."""
    return str(value).replace("\x00", "\\0")[:AUDIT_QUERY_MAX_CHARS]


def _audit_query(query: Mapping[str, str]) -> dict[str, str]:
    """The query parameters as recorded: at most 20, names and values cut to 200 chars."""
    names = list(query.keys())[:AUDIT_QUERY_MAX_PARAMS]
    return {_audit_text(name): _audit_text(query.get(name, "")) for name in names}


def _audit_cache_key(*, token: ApiToken, action: str, endpoint: str, query: dict) -> str:
    question = {k: v for k, v in query.items() if k not in AUDIT_KEY_IGNORES}
    digest = hashlib.sha256(
        json.dumps([action, endpoint, question], sort_keys=True).encode()
    ).hexdigest()[:32]
    return f"integrations:audit:{token.prefix}:{digest}"


def _count_repeat(key: str, now: dt.datetime) -> None:
    """A request that is not recorded: its count and first and last times wait in the
    cache for the next record of the same request."""
    cache.add(f"{key}:first", now.isoformat(), timeout=AUDIT_REPEAT_TTL_S)
    cache.set(f"{key}:last", now.isoformat(), timeout=AUDIT_REPEAT_TTL_S)
    cache.add(f"{key}:n", 0, timeout=AUDIT_REPEAT_TTL_S)
    try:
        cache.incr(f"{key}:n")
    except ValueError:  # expired between add and incr
        cache.set(f"{key}:n", 1, timeout=AUDIT_REPEAT_TTL_S)


def _counted_repeats(key: str) -> dict | None:
    """The repeats counted since the last record, or None. Read only: they leave the
    cache once the record that reports them is committed (``_forget_repeats``)."""
    names = [f"{key}:n", f"{key}:first", f"{key}:last"]
    found = cache.get_many(names)
    count = int(found.get(names[0]) or 0)
    if not count:
        return None
    return {"count": count, "first": found.get(names[1]), "last": found.get(names[2])}


def _forget_repeats(key: str, count: int) -> None:
    """Take the ``count`` repeats a committed record reported off the cache; repeats
    counted meanwhile stay for the next record (``first`` then still is the older time:
    the range holds them all, if wider than needed)."""
    subtract_or_delete(counter=f"{key}:n", amount=count, with_keys=[f"{key}:first", f"{key}:last"])


def integration_read_record(
    *,
    token: ApiToken,
    action: str,
    endpoint: str,
    query: Mapping[str, str],
    references: list[str],
    content: object,
    request: HttpRequest | None = None,
    extra: dict | None = None,
    now: dt.datetime | None = None,
) -> AuditEvent | None:
    """Audit one successful read by a dispatch system's token; the AuditEvent, or None
    when the request was only counted.

    Every answer that delivers something new is recorded, with the token, the endpoint,
    the query, how many incidents and which. A dispatch system polling every 10 s would
    otherwise write 8640 rows a day, nearly all "nothing new": a request identical to the
    last recorded one (same token, endpoint and query apart from ``since``) whose answer
    (``content``, compared by SHA-256) is also the same is not recorded again for
    ``INTEGRATION_API_AUDIT_QUIET_S`` seconds after that record, only counted; the next
    record of that request says how many such repeats there were and between which times
    (``details.repeats``). A changed answer (a new incident, a cancellation, a moved
    location) is recorded at once. If the cache (Redis) is unreachable every request is
    recorded. The count waits in the cache for the next record of the same request (up to
    7 days): the repeats after a poller's last record are only in the cache.
    """
    now = now or timezone.now()
    recorded_query = _audit_query(query)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    quiet_s = integration_setting("INTEGRATION_API_AUDIT_QUIET_S")
    key = _audit_cache_key(token=token, action=action, endpoint=endpoint, query=recorded_query)
    repeats = None
    cache_ok = True
    try:
        state = cache.get(key) if quiet_s else None
        if (
            state
            and state.get("digest") == digest
            and 0 <= now.timestamp() - state.get("at", 0) < quiet_s
        ):
            _count_repeat(key, now)
            return None
        repeats = _counted_repeats(key)
    except Exception:  # noqa: BLE001 - a cache outage records everything, never loses a read
        logger.warning("integration audit: cache unavailable, recording every request")
        cache_ok = False
    details = {
        "api_token": {"name": token.name, "prefix": token.prefix},
        "endpoint": _audit_text(endpoint),
        "query": recorded_query,
        "incidents": len(references),
        "references": list(references),
        **(extra or {}),
    }
    if repeats:
        details["repeats"] = repeats

    def recorded() -> None:
        # Only once the row is committed: a write that fails or is rolled back leaves the
        # count to the next record and the next identical request recorded, not counted.
        try:
            if repeats:
                _forget_repeats(key, repeats["count"])
            if quiet_s:
                cache.set(key, {"digest": digest, "at": now.timestamp()}, timeout=quiet_s)
        except Exception:  # noqa: BLE001
            logger.warning("integration audit: cache unavailable, recording every request")

    event = record_event(
        action=action, agency=token.agency, target=token, request=request, details=details
    )
    if cache_ok:
        transaction.on_commit(recorded)  # at once in autocommit, else at the caller's commit
    return event
