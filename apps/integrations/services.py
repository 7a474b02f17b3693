"""Writes for API tokens: create (the plain token is returned once), revoke, authenticate."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Agency
from apps.audit.services import record_event
from apps.integrations.conf import integration_setting
from apps.integrations.models import ApiToken

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
