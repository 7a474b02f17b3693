"""Schemathesis against the app's own OpenAPI schema: no input gives a server error.

Every operation of ``/api/schema/`` is fuzzed in-process (WSGI) three ways:

- signed: each sensor request carries a real RFC 9421 signature by a registered sensor's
  Ed25519 key, computed over the exact bytes sent, so the fuzzed bodies get past the
  authentication and reach the serializers, the WAV reader and the services;
- with an integration API token for ``/api/v1/incidents/``;
- unauthenticated: every operation is refused with 401 (404 where no route matches).

Every response must not be a 5xx, an error must be a problem+json body, and documented
responses must match their schema.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import unquote, urlencode, urlsplit

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import formats
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.integrations.services import api_token_create
from apps.sensors.api import AUDIO_CONTENT_TYPES
from apps.sensors.models import SensorPulse
from apps.sensors.signing import sign_request
from tests.security.support import sensor_with_audio_request

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# The WAV upload's body is bytes: sent as generated, like application/octet-stream.
schemathesis.serializer.alias(list(AUDIO_CONTENT_TYPES), "application/octet-stream")

BASE = "http://localhost"  # schemathesis' WSGI transport sends Host: localhost
SERIAL = "S-FUZZ-1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # the same examples every run, none carried over from a failure
    derandomize=True,
)


@pytest.fixture(scope="session")
def wsgi_app():
    """Django's WSGI application, inside the test's transaction like Django's test client.

    A real handler closes the database connection at the end of each request (it is not
    in autocommit inside the test transaction); Django's test client avoids that the same
    way: the signal receiver is off while the request runs.
    """
    application = get_wsgi_application()

    def app(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = application(environ, start_response)
            body = b"".join(response)
            response.close()
            return [body]
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return app


@pytest.fixture
def api_schema(wsgi_app):
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)


def _operations(api_schema, *, tag: str | None = None) -> list:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    return [op for op in operations if tag is None or tag in op.definition.raw.get("tags", [])]


def _fuzz(operations, send) -> list[str]:
    """Run ``send(case)`` on generated valid and invalid cases of every operation.

    Returns one line per operation and mode that failed (the falsifying example is in
    the exception text), so a run names every broken operation at once.
    """
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                send(case)

            try:
                run()
            except Exception as exc:  # every failure of every operation, then one assert
                failures.append(f"{operation.label} ({mode}): {type(exc).__name__}: {exc}")
    return failures


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def recent_times():
    """Half the generated date-times fall inside the pulse window (72 h back, 10 s ahead),
    so valid batches get past the time checks into the ingest service."""
    previous = formats.STRING_FORMATS.get("date-time")
    recent = st.integers(min_value=-71 * 3600 * 10**6, max_value=5 * 10**6).map(
        lambda offset_us: _iso(timezone.now() + dt.timedelta(microseconds=offset_us))
    )
    schemathesis.openapi.format(
        "date-time", st.one_of(recent, previous) if previous is not None else recent
    )
    yield
    if previous is None:
        formats.unregister_string_format("date-time")
    else:
        formats.STRING_FORMATS["date-time"] = previous
        formats._invalidate_caches()


@pytest.fixture
def fuzz_world(db, settings, tmp_path, recent_times):
    """A registered sensor with its key and one pending audio request, and an API token."""
    settings.INTEGRATION_API_RATE_LIMIT = 1_000_000
    settings.MEDIA_ROOT = tmp_path / "media"
    world = sensor_with_audio_request(serial=SERIAL)
    world["token"] = api_token_create(agency=world["sensor"].agency, name="fuzz").plaintext
    return world


def _problem_check(response) -> None:
    """An error is a problem+json body whose status repeats the HTTP status."""
    if response.status_code < 400:
        return
    assert response.headers["content-type"][0] == "application/problem+json", response.text
    assert response.json()["status"] == response.status_code, response.text


def _body_bytes(case) -> tuple[bytes, str | None]:
    """The exact body the transport would send for ``case`` and its media type."""
    kwargs = case.as_transport_kwargs(base_url=BASE)
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode(), case.media_type
    data = kwargs.get("data")
    if data is None:
        return b"", case.media_type
    return (data if isinstance(data, bytes) else str(data).encode("utf-8")), case.media_type


def _signed_call(case, *, world):
    """Per-request hook: sign what is sent (method, URL, body, type, fuzzed Audio-Start-UTC)."""
    if "request_id" in (case.path_parameters or {}):
        case.path_parameters["request_id"] = world["request"].pk
    body, media_type = _body_bytes(case)
    url = case.as_transport_kwargs(base_url=BASE)
    target = BASE + url["path"]
    if url.get("query_string"):
        target += "?" + urlencode(url["query_string"], doseq=True)
    extra = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() == "audio-start-utc" and isinstance(value, str)
    }
    try:
        for value in extra.values():
            value.encode("latin-1")
    except UnicodeEncodeError:
        extra = {}
    has_body = bool(body) or case.method.upper() not in {"GET", "HEAD", "DELETE", "OPTIONS"}
    headers = sign_request(
        method=case.method,
        url=target,
        body=body,
        content_type=(media_type or "application/octet-stream") if has_body else None,
        serial=SERIAL,
        private_key=world["key"],
        extra_headers=extra,
    )
    if has_body:
        return case.call(base_url=BASE, headers=headers, data=body)
    return case.call(base_url=BASE, headers=headers)


def test_signed_sensor_api_never_answers_a_server_error(api_schema, fuzz_world):
    operations = _operations(api_schema, tag="sensor")
    assert len(operations) == 4

    def send(case):
        response = _signed_call(case, world=fuzz_world)
        case.validate_response(response, checks=CHECKS)
        _problem_check(response)
        if case.meta.generation.mode is GenerationMode.POSITIVE:
            # The signature is valid: the fuzzed request got past authentication.
            assert response.status_code not in (401, 403), response.text

    failures = _fuzz(operations, send)
    assert not failures, "\n\n".join(failures)
    # Valid batches reached the ingest service, not only the validators.
    assert SensorPulse.objects.filter(sensor=fuzz_world["sensor"]).exists()


def test_integration_api_with_a_token_never_answers_a_server_error(api_schema, fuzz_world):
    operations = _operations(api_schema, tag="integration")
    assert len(operations) == 2

    def send(case):
        response = case.call(
            base_url=BASE, headers={"Authorization": f"Bearer {fuzz_world['token']}"}
        )
        case.validate_response(response, checks=CHECKS)
        _problem_check(response)
        if case.meta.generation.mode is GenerationMode.POSITIVE:
            assert response.status_code != 401, response.text

    failures = _fuzz(operations, send)
    assert not failures, "\n\n".join(failures)


def test_unauthenticated_requests_are_refused_without_a_server_error(api_schema, fuzz_world):
    operations = _operations(api_schema)
    assert len(operations) == 6

    def send(case):
        response = case.call(base_url=BASE)
        case.validate_response(response, checks=CHECKS)
        _problem_check(response)
        path = urlsplit(response.request.url).path
        try:
            resolve(unquote(path))
        except Resolver404:
            # e.g. a negative number where the route takes <int:...>: no view is reached.
            assert response.status_code == 404, response.text
        else:
            assert response.status_code == 401, response.text

    failures = _fuzz(operations, send)
    assert not failures, "\n\n".join(failures)
