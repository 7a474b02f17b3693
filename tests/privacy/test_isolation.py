"""Per-agency isolation: every URL pattern of the project, walked as another agency.

Agency B ("Zephyr ...") gets one object of each kind: users, a TOTP device, incidents
(published with a clip, comment and CAP message; pending; filtered; dismissed), a sensor and
its audio request, an audit event, a webhook endpoint, an e-mail destination, an API
token, an investigation request with a stored clip. Every pattern of ``get_resolver()``
is then requested with its path parameters filled with B's ids / system id + number,
with GET and POST, as a fully authorised user of agency A (every application granted,
two-factor verified), as A's agency super user, and, on the integration API, with A's API
token. No response (body or Location) may contain B's identifying strings (everything of
B says "zephyr"), B's incident reference or the bytes of B's audio (incident or
investigation clip); and afterwards none of B's objects has changed and no playback of
B's audio was authorised.

A positive control walks the same URLs as B's own super user: there the needles are found
on the pages that should show them, so the needles do detect a leak.

A new URL pattern whose parameter this walk cannot fill makes the test fail, so nobody can
add a page without deciding which object of agency B it must not reveal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.accounts.models import Application, ApplicationGrant, User
from apps.alerts.models import EmailDestination, WebhookEndpoint
from apps.alerts.services import alert_message_record, destination_for_user
from apps.audit.services import record_event
from apps.evidence.models import PlaybackGrant
from apps.evidence.services import clip_playback_authorize
from apps.geo.models import Beat, District
from apps.incidents.models import AudioClip, AudioRequest, Incident
from apps.integrations.models import ApiToken
from apps.integrations.services import api_token_create
from apps.investigations import services as investigations
from apps.investigations.models import InvestigationClip, InvestigationRequest
from apps.investigations.services import investigation_file
from apps.review.models import IncidentHistory, SurgeMode
from tests.factories import AgencyFactory, UserFactory, add_totp_device, login_verified
from tests.investigations.support import verified_reviewer
from tests.portal.support import (
    add_clip,
    comment,
    pending_incident,
    publish,
    square,
    wav_bytes,
)
from tests.privacy.support import decide
from tests.sensors.support import register

pytestmark = pytest.mark.django_db

NEEDLE = b"zephyr"
ALL_APPLICATIONS = list(Application.values)

# Patterns that serve no agency data at all. They are still requested and must not
# contain B's strings; listing them here only says they need no object of agency B.
NOT_AGENCY_DATA = {
    "healthz": "liveness probe: version and database status, no rows",
    "api/schema/": "the OpenAPI document: describes endpoints, contains no rows",
    "platform-admin/jsi18n/": "the admin's JavaScript translation catalogue",
    "platform-admin/login/": "the staff log-in form",
    "platform-admin/logout/": "staff log-out",
    "platform-admin/password_change/": "staff password change form",
    "platform-admin/password_change/done/": "staff password change confirmation",
    "accounts/login/": "the log-in form",
    "accounts/logout/": "log-out",
    "accounts/password/reset/": "the password-reset request form (same answer for any address)",
    "accounts/password/reset/sent/": "a fixed confirmation page",
    "accounts/reset/done/": "a fixed confirmation page",
}

# What a POST sends: every field name a form of this project uses, with values that would
# change B's objects if a view ever let A reach them.
POST_DATA = {
    "applications": ALL_APPLICATIONS,
    "role": "agency_super_user",
    "email": "hijack@example.org",
    "full_name": "Hijack",
    "name": "Hijack",
    "url": "https://hijack.example.org/hook",
    "event_types": ["incident.published"],
    "active": "on",
    "text": "hijack",
    "reason": "hijack",
    "comment": "hijack",
    "decision": "not_gunfire",
    "not_gunfire_reason": "other",
    "rounds": "1",
    "confirm": "1",
    "on": "on",
    "threshold": "0.1",
    "new_password1": "Another-Sturdy-Pass-77",
    "new_password2": "Another-Sturdy-Pass-77",
}


@dataclass
class AgencyB:
    agency: object
    officer: User
    boss: User
    device: object
    published: Incident
    pending: Incident
    filtered: Incident
    dismissed: Incident
    clip: object
    clip_bytes: bytes
    audio_request: AudioRequest
    area: object
    webhook: WebhookEndpoint
    destination: EmailDestination
    token: ApiToken
    token_plaintext: str
    history: IncidentHistory
    investigation: InvestigationRequest
    investigation_clip: InvestigationClip
    investigation_clip_bytes: bytes
    playback_token: str

    @property
    def reference(self) -> bytes:
        return f"{self.agency.system_id}-{self.published.number}".encode()


def _agency_b() -> AgencyB:
    agency = AgencyFactory(system_id="873", name="Zephyr Falls Police Department")
    centre = (41.2, -88.1)
    district = District.objects.create(
        agency=agency, name="Zephyr District", boundary=square(*centre, 0.02)
    )
    beat = Beat.objects.create(
        agency=agency, name="Zephyr Beat", district=district, boundary=square(*centre, 0.01)
    )
    officer = UserFactory(
        agency=agency,
        email="officer@zephyr-falls.example",
        full_name="Quinn Zephyrson",
        applications=ALL_APPLICATIONS,
    )
    boss = UserFactory(
        agency=agency,
        super_user=True,
        email="chief@zephyr-falls.example",
        full_name="Robin Zephyrhill",
        applications=ALL_APPLICATIONS,
    )
    device = add_totp_device(officer, name="Zephyr phone")
    published = pending_incident(
        agency, address="4242 Zephyr Ridge Rd", beat=beat, district=district
    )
    clip = add_clip(published, serial="ZEPHYR-S1")
    clip_bytes = wav_bytes(seconds=0.37, rate=8000)
    Path(settings.MEDIA_ROOT, clip.file.name).write_bytes(clip_bytes)
    AudioClip.objects.filter(pk=clip.pk).update(
        sha256=hashlib.sha256(clip_bytes).hexdigest(), size_bytes=len(clip_bytes)
    )
    clip.refresh_from_db()
    publish(published)
    # A playback B's chief authorised (any session of the chief may fetch it; nobody else).
    boss.is_verified = lambda: True  # as django_otp's middleware marks a verified session
    playback_token = clip_playback_authorize(user=boss, clip=clip).token
    history = comment(published, "Zephyr reviewer comment")
    alert_message_record(event_uuid=str(uuid.uuid4()), incident_id=published.pk, kind="publish")
    pending = pending_incident(agency, address="17 Zephyr Lane", beat=beat, district=district)
    filtered = pending_incident(agency, address="5 Zephyr Court", beat=beat, district=district)
    Incident.objects.filter(pk=filtered.pk).update(status="filtered")
    dismissed = decide(
        pending_incident(agency, address="9 Zephyr Way", beat=beat, district=district),
        gunfire=False,
    )
    record_event(
        action="privacy.zephyr_test", actor=boss, agency=agency, target_label="Zephyr audit row"
    )
    webhook = WebhookEndpoint.objects.create(
        agency=agency,
        name="Zephyr CAD",
        url="https://cad.zephyr-falls.example/hook",
        secret="zephyr-webhook-secret",
        event_types=["incident.published"],
        created_by=boss,
    )
    destination = destination_for_user(user=officer)
    created = api_token_create(agency=agency, name="Zephyr CAD token", created_by=boss)
    investigation = investigation_file(
        user=officer,
        case_number="ZEPHYR-2026-1",
        justification="Zephyr patrol verified four shots with casings at 17 Zephyr Lane.",
        occurred_at=published.first_shot_at,
        tolerance_s=120,
        radius_m=200.0,
        latitude=published.latitude,
        longitude=published.longitude,
    )
    investigation_clip, investigation_clip_bytes = _investigation_clip(investigation, published)
    return AgencyB(
        agency=agency,
        officer=officer,
        boss=boss,
        device=device,
        published=published,
        pending=pending,
        filtered=filtered,
        dismissed=dismissed,
        clip=clip,
        clip_bytes=clip_bytes,
        audio_request=clip.request,
        area=published.coverage_area,
        webhook=webhook,
        destination=destination,
        token=created.token,
        token_plaintext=created.plaintext,
        history=history,
        investigation=investigation,
        investigation_clip=investigation_clip,
        investigation_clip_bytes=investigation_clip_bytes,
        playback_token=playback_token,
    )


def _investigation_clip(investigation, published) -> tuple[InvestigationClip, bytes]:
    """B's request taken to a stored clip through the real services (it stays open: audio
    requested), from a sensor of B 110 m from the place. The clip is seeded noise, so its
    bytes are a needle no other response can contain by chance."""
    sensor, _ = register(
        agency=investigation.agency,
        serial="ZEPHYR-INV1",
        lat=published.latitude + 0.001,
        lon=published.longitude,
    )
    staff = verified_reviewer()
    investigations.investigation_search(investigation_id=investigation.pk, reviewer=staff)
    (audio_request,) = investigations.investigation_audio_request(
        investigation_id=investigation.pk,
        reviewer=staff,
        sensor_ids=[sensor.pk],
        source_start=investigation.occurred_at - dt.timedelta(seconds=1),
        duration_s=2.0,
    )
    noise = np.random.default_rng(873).integers(-9000, 9000, size=18_000, dtype=np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio_request.sample_rate)
        out.writeframes(noise.astype("<i2").tobytes())
    body = buffer.getvalue()
    clip = investigations.investigation_clip_store(
        sensor=sensor, request_id=audio_request.pk, body=body, start_time=audio_request.window_start
    )
    return clip, body


# --- Walking the URL configuration ------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    text: str  # the joined pattern, e.g. "agency/users/<int:pk>/"
    parts: tuple  # (is_regex, pattern string) per level
    name: str
    pattern: URLPattern


def walk(patterns=None, parts=(), names=()) -> list[Route]:
    patterns = get_resolver().url_patterns if patterns is None else patterns
    routes = []
    for entry in patterns:
        level = (_is_regex(entry), str(entry.pattern))
        if isinstance(entry, URLResolver):
            routes += walk(entry.url_patterns, parts + (level,), names + (entry.namespace,))
        else:
            name = ":".join(n for n in names + (entry.name,) if n)
            text = "".join(p for _, p in parts + (level,))
            routes.append(Route(text=text, parts=parts + (level,), name=name, pattern=entry))
    return routes


def _is_regex(entry) -> bool:
    return entry.pattern.__class__.__name__ == "RegexPattern"


ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def parameters(route: Route) -> list[str]:
    found = []
    for is_regex, text in route.parts:
        expression = REGEX_GROUP if is_regex else ROUTE_PARAMETER
        found += [m.group("name") for m in expression.finditer(text)]
    return found


def build_path(route: Route, values: dict[str, str]) -> str:
    path = ""
    for is_regex, text in route.parts:
        if is_regex:
            text = REGEX_GROUP.sub(lambda m: values[m.group("name")], text)
            text = text.lstrip("^").rstrip("$").replace("\\", "")
        else:
            text = ROUTE_PARAMETER.sub(lambda m: values[m.group("name")], text)
        path += text
    return "/" + path


class UnknownParameter(Exception):
    pass


def values_for(route: Route, b: AgencyB) -> dict[str, str]:
    """B's object for each path parameter of ``route``."""
    admin_objects = {
        "accounts_agency": b.agency.pk,
        "accounts_user": b.officer.pk,
        "sensors_sensor": b.clip.sensor_id,
        "review_reviewdecision": b.published.review_decision.pk,
        "review_incidenthistory": b.history.pk,
    }
    by_pk = {
        "agency_admin:": b.officer.pk,
        "alerts:destination_reset": b.destination.pk,
        "alerts:webhook": b.webhook.pk,
    }
    fixed = {
        "system_id": b.agency.system_id,
        "number": b.published.number,
        "sequence": 1,
        "clip_id": b.clip.pk,
        "incident_id": b.published.pk,
        "area_id": b.area.pk,
        "request_id": b.audio_request.pk,
        "investigation_id": b.investigation.pk,
        "device_id": b.device.pk,
        "uidb64": urlsafe_base64_encode(force_bytes(b.officer.pk)),
        "token": "set-password",
        "content_type_id": ContentType.objects.get_for_model(Incident).pk,
        "app_label": "accounts",
        "url": "accounts/agency/",
    }
    if route.name == "evidence:playback_stream":
        fixed["token"] = b.playback_token
    if route.name == "evidence:kind_clip_playback":
        fixed.update(kind="investigation", clip_id=b.investigation_clip.pk)
    values = {}
    for parameter in parameters(route):
        if parameter in fixed:
            value = fixed[parameter]
        elif parameter == "pk":
            value = next((v for k, v in by_pk.items() if route.name.startswith(k)), None)
        elif parameter == "object_id" and route.name.startswith("admin:"):
            model = "_".join(route.name.removeprefix("admin:").split("_")[:2])
            value = admin_objects.get(model, b.agency.pk)
        elif parameter == "object_id":
            value = b.published.pk
        else:
            value = None
        if value is None:
            raise UnknownParameter(
                f"{route.text!r} ({route.name}) has a parameter {parameter!r} this walk "
                "cannot fill: say which object of agency B it takes in values_for()."
            )
        values[parameter] = str(value)
    return values


# --- Requests -------------------------------------------------------------------------------


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        # The test client closes it once exhausted (closing it again here would send
        # request_finished outside the client and close the test's database connection).
        return b"".join(response.streaming_content)
    return response.content


def leaks(response, b: AgencyB) -> list[str]:
    found = []
    data = body_of(response)
    location = response.headers.get("Location", "").encode()
    for where, text in (("body", data), ("Location", location)):
        if NEEDLE in text.lower():
            at = text.lower().index(NEEDLE)
            found.append(f"{where} contains {text[max(0, at - 60) : at + 40]!r}")
        if b.reference in text:
            found.append(f"{where} contains B's incident reference {b.reference!r}")
    if b.clip_bytes[-64:] in data:
        found.append("body contains B's audio")
    if b.investigation_clip_bytes[-64:] in data:
        found.append("body contains B's investigation audio")
    return found


def request(client: Client, method: str, path: str, **extra):
    if method == "GET":
        return client.get(path, **extra)
    return client.post(path, POST_DATA, **extra)


def _snapshot(b: AgencyB) -> dict:
    """Everything of B a POST could change."""
    officer = User.objects.get(pk=b.officer.pk)
    incidents = Incident.objects.filter(agency=b.agency).order_by("pk")
    return {
        "officer": (officer.is_active, officer.password, officer.email, officer.role),
        "grants": sorted(
            ApplicationGrant.objects.filter(user__agency=b.agency).values_list(
                "user_id", "application"
            )
        ),
        "users": sorted(User.objects.filter(agency=b.agency).values_list("pk", "is_active")),
        "device": type(b.device).objects.filter(pk=b.device.pk).exists(),
        "incidents": list(incidents.values_list("pk", "status", "revision", "latitude")),
        "history": IncidentHistory.objects.filter(incident__agency=b.agency).count(),
        "webhooks": list(
            WebhookEndpoint.objects.filter(agency=b.agency).values_list("pk", "url", "secret")
        ),
        "destination": EmailDestination.objects.filter(pk=b.destination.pk).values_list(
            "status", "address"
        )[0],
        "tokens": list(ApiToken.objects.filter(agency=b.agency).values_list("pk", "revoked_at")),
        "audio_requests": list(
            AudioRequest.objects.filter(incident__agency=b.agency).values_list("pk", "status")
        ),
        "investigation_audio_requests": list(
            AudioRequest.objects.filter(investigation__agency=b.agency).values_list("pk", "status")
        ),
        "investigation_clips": list(
            InvestigationClip.objects.filter(investigation__agency=b.agency).values_list("pk")
        ),
        # A playback authorised for anyone but B's own users is a leak even though the
        # press-play answer itself (a token URL) carries none of B's strings.
        "playback_grants": list(PlaybackGrant.objects.values_list("pk", "user_id")),
        "surge": list(SurgeMode.objects.filter(coverage_area=b.area).values_list("on")),
        "investigations": list(
            InvestigationRequest.objects.filter(agency=b.agency).values_list(
                "pk", "status", "updated_at"
            )
        ),
    }


def _walk_as(client_factory, routes, b: AgencyB, extra=None) -> dict[tuple, list[str]]:
    """Request every route with GET and POST; return the leaks found per
    (method, route name, path, status)."""
    found = {}
    for route in routes:
        path = build_path(route, values_for(route, b))
        if resolve(path).func != route.pattern.callback:
            # Shadowed by an earlier pattern: unreachable, and the pattern that answers
            # is walked itself.
            continue
        for method in ("GET", "POST"):
            client = client_factory()
            response = request(client, method, path, **(extra or {}))
            problems = leaks(response, b)
            if problems:
                found[(method, route.name, path, response.status_code)] = problems
    return found


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    agency_a = AgencyFactory(system_id="214", name="Riverton Police Department")
    officer_a = UserFactory(agency=agency_a, applications=ALL_APPLICATIONS)
    boss_a = UserFactory(agency=agency_a, super_user=True, applications=ALL_APPLICATIONS)
    # A has data of its own, so list pages have rows to (correctly) show.
    own = pending_incident(agency_a, address="12 Riverton Ave")
    add_clip(own, serial="RIVERTON-S1")
    publish(own)
    token_a = api_token_create(agency=agency_a, name="Riverton CAD").plaintext
    b = _agency_b()
    return agency_a, officer_a, boss_a, token_a, b


def _session(user):
    def make() -> Client:
        client = Client()
        login_verified(client, user)
        return client

    return make


def test_every_pattern_is_walked_with_known_parameters(world):
    *_, b = world
    routes = walk()
    assert len(routes) > 100
    for route in routes:
        values_for(route, b)  # raises UnknownParameter for a pattern nobody taught us
    texts = {route.text for route in routes}
    stale = set(NOT_AGENCY_DATA) - texts
    assert not stale, f"allow-list names patterns that no longer exist: {stale}"


def test_no_url_reveals_another_agencys_data_to_a_fully_authorised_user(world):
    _, officer_a, _, _, b = world
    before = _snapshot(b)

    found = _walk_as(_session(officer_a), walk(), b)

    assert found == {}
    assert _snapshot(b) == before


def test_no_url_reveals_another_agencys_data_to_an_agency_super_user(world):
    _, _, boss_a, _, b = world
    before = _snapshot(b)

    found = _walk_as(_session(boss_a), walk(), b)

    assert found == {}
    assert _snapshot(b) == before


def test_the_integration_api_with_another_agencys_token_reveals_nothing(world):
    _, _, _, token_a, b = world
    api = [route for route in walk() if route.text.startswith("api/")]
    assert {route.text for route in api} >= {
        "api/v1/incidents/",
        "api/v1/incidents/<str:system_id>/<int:number>",
    }

    found = _walk_as(Client, api, b, extra={"HTTP_AUTHORIZATION": f"Bearer {token_a}"})

    assert found == {}
    response = Client().get(
        f"/api/v1/incidents/{b.agency.system_id}/{b.published.number}",
        HTTP_AUTHORIZATION=f"Bearer {token_a}",
    )
    assert response.status_code == 404


def test_positive_control_agency_b_itself_sees_its_data_on_those_urls(world):
    """The needles work: B's own super user finds B's strings where B's data is shown."""
    *_, b = world
    routes = walk()
    found = _walk_as(_session(b.boss), routes, b)
    revealing = {name for method, name, _, _ in found if method == "GET"}

    assert {
        "portal:siren_incident",
        "portal:console_incident",
        "portal:investigator_incident",
        "evidence:playback_stream",
        "agency_admin:user_detail",
        "agency_admin:users",
        "agency_admin:audit",
        "alerts:webhook_detail",
        "alerts:webhooks",
        "alerts:cap_feed",
        "alerts:cap_message",
        "alerts:report",
        "privacy:audit_csv",
        "investigations:list",
        "investigations:detail",
    } <= revealing
    with_token = _walk_as(
        Client,
        [r for r in routes if r.text.startswith("api/v1/incidents/")],
        b,
        extra={"HTTP_AUTHORIZATION": f"Bearer {b.token_plaintext}"},
    )
    assert {(method, name) for method, name, _, _ in with_token} >= {
        ("GET", "integration-api:incidents"),
        ("GET", "integration-api:incident"),
    }
