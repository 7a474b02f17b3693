"""Investigation test helpers: a place, real registered sensors around it, stored pulses.

Sensors are registered with real Ed25519 keys at known distances from ``PLACE`` so the
800 m rule can be tested to the metre; pulses are stored through the ingest service
(in a test transaction the pipeline never runs on them: the system "missed" them).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import uuid

from django.utils import timezone
from django_otp.middleware import is_verified

from apps.accounts.models import Application
from apps.investigations import services
from apps.sensors.services import pulses_ingest
from tests.factories import UserFactory, add_totp_device
from tests.incidents.support import square_area
from tests.sensors.support import register

PLACE = (40.6936, -89.5890)  # Peoria, IL (the demo city)
METRES_PER_DEGREE = 111_320.0
JUSTIFICATION = (
    "Three casings recovered at the scene and two witnesses heard four shots; "
    "verified by patrol unit 12 at the time given."
)


def offset(metres_north: float = 0.0, metres_east: float = 0.0, *, origin=PLACE):
    lat, lon = origin
    return (
        lat + metres_north / METRES_PER_DEGREE,
        lon + metres_east / (METRES_PER_DEGREE * math.cos(math.radians(lat))),
    )


def agency_area(agency):
    return square_area(agency=agency, centre=PLACE, half_width_m=4000.0)


def officer(agency, **extra):
    return UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL], **extra)


def verified(user):
    """The user as OTPMiddleware leaves it after a two-factor log-in (django_otp's code)."""
    user.otp_device = add_totp_device(user)
    user.is_verified = functools.partial(is_verified, user)
    return user


def verified_reviewer(**extra):
    return verified(UserFactory(irc_reviewer=True, **extra))


def sensor_at(agency, serial: str, *, north=0.0, east=0.0, area=None):
    lat, lon = offset(north, east)
    return register(agency=agency, serial=serial, lat=lat, lon=lon, coverage_area=area)


def store_pulses(sensor, times: list[dt.datetime], *, power=118.0, snr=30.0) -> int:
    pulses = [
        {
            "pulse_uuid": uuid.uuid4(),
            "arrival_time": when,
            "power_db_spl": power,
            "snr_db": snr,
            "features": {"rise_time_ms": 0.6},
        }
        for when in times
    ]
    return pulses_ingest(sensor=sensor, pulses=pulses).accepted


def file_request(user, *, occurred_at=None, **overrides):
    values = {
        "case_number": "2026-004711",
        "justification": JUSTIFICATION,
        "occurred_at": occurred_at or timezone.now() - dt.timedelta(hours=2),
        "tolerance_s": 120,
        "radius_m": 200.0,
        "latitude": PLACE[0],
        "longitude": PLACE[1],
    }
    values.update(overrides)
    return services.investigation_file(user=user, **values)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
