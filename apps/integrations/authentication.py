"""DRF authentication and rate limiting for the integration API: ``Authorization: Bearer``."""

from __future__ import annotations

import logging

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from apps.integrations import services
from apps.integrations.models import ApiToken

logger = logging.getLogger("apps.integrations")


class TokenPrincipal:
    """What ``request.user`` is for a request with an API token."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, token: ApiToken):
        self.token = token
        self.agency = token.agency

    def __str__(self) -> str:
        return f"API token {self.token.prefix} of agency {self.agency.system_id}"


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer sso_<prefix>.<secret>``; ``request.auth`` is the ApiToken."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Bearer <token>'."
            )
        try:
            plaintext = parts[1].decode("ascii")
            token = services.api_token_authenticate(plaintext=plaintext)
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API token is malformed.") from None
        except services.TokenRefused as refusal:
            logger.warning("integration API token refused: %s", refusal.detail)
            raise exceptions.AuthenticationFailed(refusal.detail) from None
        return TokenPrincipal(token), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="integration-api"'


class HasApiToken(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiToken)


class ApiTokenRateThrottle(BaseThrottle):
    """INTEGRATION_API_RATE_LIMIT requests per token per window; 429 with Retry-After."""

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.auth, ApiToken):
            return True
        decision = services.api_token_rate_check(token=request.auth)
        self._wait = decision.retry_after_s
        return decision.allowed

    def wait(self):
        return getattr(self, "_wait", None)
