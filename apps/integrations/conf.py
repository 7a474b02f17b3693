"""Integration API settings: Django settings win, then the environment, then the default.

``INTEGRATION_API_RATE_LIMIT`` requests per token per ``INTEGRATION_API_RATE_WINDOW_S``
seconds (a fixed-window counter in the cache; Redis in production, so it holds across
processes). ``INTEGRATION_API_PAGE_SIZE`` / ``INTEGRATION_API_MAX_PAGE_SIZE`` bound lists.
``INTEGRATION_API_AUDIT_QUIET_S``: a request whose answer is the same as that of the
last audited identical request (same token, endpoint and query apart from ``since``) is
not audited again for this many seconds, only counted (``0``: every request audited).
"""

from __future__ import annotations

from django.conf import settings

from shotspotter.env import env_int

DEFAULTS = {
    "INTEGRATION_API_RATE_LIMIT": 120,
    "INTEGRATION_API_RATE_WINDOW_S": 60,
    "INTEGRATION_API_PAGE_SIZE": 50,
    "INTEGRATION_API_MAX_PAGE_SIZE": 200,
    "INTEGRATION_API_AUDIT_QUIET_S": 600,
}
MINIMUMS = {"INTEGRATION_API_AUDIT_QUIET_S": 0}


def integration_setting(name: str) -> int:
    if hasattr(settings, name):
        return int(getattr(settings, name))
    return env_int(name, DEFAULTS[name], minimum=MINIMUMS.get(name, 1))
