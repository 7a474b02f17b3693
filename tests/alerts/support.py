"""Agencies, beats, Siren users and published incidents for alert tests (stored directly)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.utils import timezone

from apps.accounts.models import Application
from apps.alerts.models import AlertSubscription
from apps.geo.models import Beat, District
from apps.incidents.models import IncidentStatus
from tests.factories import AgencyFactory, UserFactory
from tests.incidents.support import square_area
from tests.review.support import SQUARE, make_incident


def agency_with_geography(*, system_id: str = "417", time_zone: str = "America/Chicago"):
    """An agency with a coverage area, districts 1 and 2, beats 11, 12 (district 1), 21."""
    agency = AgencyFactory(system_id=system_id, time_zone=time_zone)
    area = square_area(agency=agency)
    d1 = District.objects.create(agency=agency, name="District 1", boundary=SQUARE)
    d2 = District.objects.create(agency=agency, name="District 2", boundary=SQUARE)
    beats = {
        "11": Beat.objects.create(agency=agency, district=d1, name="11", boundary=SQUARE),
        "12": Beat.objects.create(agency=agency, district=d1, name="12", boundary=SQUARE),
        "21": Beat.objects.create(agency=agency, district=d2, name="21", boundary=SQUARE),
    }
    return agency, area, {"1": d1, "2": d2}, beats


def webhook_scene():
    """(agency, its super user boss@example.org, a published 3-round incident in beat 12)."""
    agency, area, districts, beats = agency_with_geography()
    boss = UserFactory(super_user=True, agency=agency, email="boss@example.org")
    incident = published_incident(area=area, beat=beats["12"], rounds=3)
    return agency, boss, incident


def make_endpoint(
    boss, url, events=("incident.published", "incident.updated", "incident.cancelled")
):
    """A webhook endpoint of the boss's agency, made through the service."""
    from apps.alerts import services

    return services.webhook_endpoint_create(
        actor=boss, name="CAD", url=url, event_types=list(events)
    )


def published_incident(
    *,
    area,
    beat=None,
    at: dt.datetime | None = None,
    rounds: int = 1,
    address: str = "1200 block of W Main St",
    machine_class: str = "gunfire",
    lat: float | None = None,
    lon: float | None = None,
):
    """A published incident whose first shot was ``at`` (UTC), in ``beat`` and its district."""
    extra = {}
    if lat is not None:
        extra = {"lat": lat, "lon": lon}
    incident = make_incident(area=area, status=IncidentStatus.PUBLISHED, rounds=rounds, **extra)
    at = at or timezone.now()
    incident.first_shot_at = at
    incident.last_shot_at = at + dt.timedelta(seconds=0.3 * (rounds - 1))
    incident.published_at = at + dt.timedelta(seconds=40)
    incident.beat = beat
    incident.district = beat.district if beat is not None else None
    incident.nearest_address = address
    incident.machine_class = machine_class
    incident.save()
    return incident


def siren_user(*, agency, email: str, subscription: dict | None = None, beats=(), districts=()):
    user = UserFactory(agency=agency, email=email, applications=[Application.SIREN])
    if subscription is not None or beats or districts:
        sub = AlertSubscription.objects.create(user=user, **(subscription or {}))
        sub.beats.set(beats)
        sub.districts.set(districts)
    return user


class Receiver:
    """A real HTTP server in a thread that answers POSTs with scripted statuses.

    ``statuses`` are used in order (the last one repeats). Every request is kept with
    its headers and raw body. ``delay_s``: wait that long before reading a request.
    """

    def __init__(
        self, statuses=(200,), *, host: str = "127.0.0.1", port: int = 0, delay_s: float = 0.0
    ):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                if delay_s:  # a receiver too slow for ALERTS_WEBHOOK_TIMEOUT_S
                    time.sleep(delay_s)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                index = min(len(receiver.requests), len(receiver.statuses) - 1)
                status = receiver.statuses[index]
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                reply = json.dumps({"ok": status < 300, "n": len(receiver.requests)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/shotspotter"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
