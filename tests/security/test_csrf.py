"""CSRF everywhere: every URL pattern, POSTed without a token, is refused by the CSRF check.

The walk covers every pattern of ``get_resolver()`` (a new page is covered the day it is
added) as an anonymous visitor and as a logged-in, two-factor verified user of each role.
Only the machine APIs under ``/api/`` are exempt by design: the sensor API is
authenticated by an RFC 9421 signature over each request and the integration API by a
bearer token, neither by a cookie a browser would send on its own.
"""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from apps.accounts.models import Role
from tests.factories import AgencyFactory, UserFactory, login_verified

pytestmark = pytest.mark.django_db

# Exempt from Django's CSRF check by design: authenticated per request, never by cookie.
CSRF_EXEMPT_PREFIXES = {
    "api/v1/sensor/": "RFC 9421 signature by the sensor's Ed25519 key over each request",
    "api/v1/incidents/": "Authorization: Bearer API token (read only)",
    "api/schema/": "the OpenAPI document (GET only, no session, no state)",
}

ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")
DUMMY_BY_CONVERTER = {
    "int": "1",
    "str": "x",
    "slug": "x",
    "path": "x",
    "uuid": str(uuid.UUID(int=1)),
}


def _regex_dummy(match: re.Match) -> str:
    body = match.group("body")
    if "|" in body:  # an alternation such as the admin's app labels: its first choice
        return body.split("|")[0]
    return "1" if "\\d" in body else "x"


def walk(patterns=None, prefix="") -> list[tuple[str, URLPattern]]:
    """(example path, pattern) for every pattern, path parameters filled with dummies."""
    patterns = get_resolver().url_patterns if patterns is None else patterns
    found = []
    for entry in patterns:
        text = str(entry.pattern)
        if entry.pattern.__class__.__name__ == "RegexPattern":
            text = REGEX_GROUP.sub(_regex_dummy, text).lstrip("^").rstrip("$").replace("\\", "")
        else:
            text = ROUTE_PARAMETER.sub(
                lambda m: DUMMY_BY_CONVERTER[m.group("converter") or "str"], text
            )
        if isinstance(entry, URLResolver):
            found += walk(entry.url_patterns, prefix + text)
        else:
            found.append((prefix + text, entry))
    return found


def _exempt(path: str) -> bool:
    return any(path.startswith(prefix) for prefix in CSRF_EXEMPT_PREFIXES)


@pytest.fixture
def routes():
    routes = walk()
    assert len(routes) > 50
    unresolved = []
    for path, pattern in routes:
        try:
            match = resolve("/" + path)
        except Exception:  # noqa: BLE001 - listed below, whatever the resolver says
            unresolved.append(path)
            continue
        if match.func is not pattern.callback:
            unresolved.append(path)
    # A new pattern whose dummy path reaches another view needs a better dummy here.
    assert unresolved == []
    return routes


def _csrf_refused(response, records) -> bool:
    return response.status_code == 403 and any(
        record.name == "django.security.csrf" for record in records
    )


def _walk_posting(client: Client, routes, caplog) -> list[str]:
    """Paths (outside the API) whose token-less POST was not refused by the CSRF check."""
    failures = []
    for path, _pattern in routes:
        if _exempt(path):
            continue
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="django.security.csrf"):
            response = client.post("/" + path, {"name": "csrf-probe", "confirm": "1"})
        if not _csrf_refused(response, caplog.records):
            failures.append(f"/{path}: {response.status_code}")
    return failures


def test_only_the_machine_apis_are_csrf_exempt(routes):
    exempt = sorted(
        "/" + path for path, pattern in routes if getattr(pattern.callback, "csrf_exempt", False)
    )
    assert exempt, "the signed and token APIs are expected to be exempt"
    assert all(_exempt(path[1:]) for path in exempt), exempt


def test_a_post_without_token_is_refused_for_an_anonymous_visitor(routes, caplog):
    client = Client(enforce_csrf_checks=True)
    assert _walk_posting(client, routes, caplog) == []


@pytest.mark.parametrize(
    "role", [Role.POLICE_USER, Role.AGENCY_SUPER_USER, Role.IRC_REVIEWER, Role.PLATFORM_ADMIN]
)
def test_a_post_without_token_is_refused_for_a_logged_in_user(routes, caplog, role):
    agency = AgencyFactory() if role in (Role.POLICE_USER, Role.AGENCY_SUPER_USER) else None
    user = UserFactory(role=role, agency=agency)
    client = Client(enforce_csrf_checks=True)
    login_verified(client, user)
    assert _walk_posting(client, routes, caplog) == []


def test_control_the_same_post_with_its_token_passes_the_csrf_check(caplog):
    """The probe can tell: with the form's token the log-in POST reaches the view."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    token = page.cookies["csrftoken"].value
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="django.security.csrf"):
        response = client.post(
            "/accounts/login/",
            {"username": "nobody@example.org", "password": "x", "csrfmiddlewaretoken": token},
        )
    assert not _csrf_refused(response, caplog.records)
    assert response.status_code in (200, 400)  # the form again, with its error


def test_control_the_exempt_apis_answer_without_a_csrf_refusal(client, caplog):
    client = Client(enforce_csrf_checks=True)
    with caplog.at_level(logging.WARNING, logger="django.security.csrf"):
        response = client.post("/api/v1/sensor/pulses", b"{}", content_type="application/json")
    assert response.status_code == 401  # refused by the signature check instead
    assert not _csrf_refused(response, caplog.records)
