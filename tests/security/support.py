"""What the fuzzers need: a registered sensor with its key and a pending audio request."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.incidents.models import AudioRequest
from tests.factories import AgencyFactory
from tests.review.support import area_with_beat, make_incident
from tests.sensors.support import register

WINDOW_S = 6
SAMPLE_RATE = 12_000


def sensor_with_audio_request(*, serial: str) -> dict:
    """A sensor (``sensor``, ``key``) with one pending 6 s request at 12 kHz (``request``)."""
    agency = AgencyFactory(system_id="777")
    area = area_with_beat(agency=agency)
    sensor, key = register(agency=agency, serial=serial)
    start = timezone.now() - dt.timedelta(seconds=20)
    audio_request = AudioRequest.objects.create(
        incident=make_incident(area=area),
        sensor=sensor,
        window_start=start,
        window_end=start + dt.timedelta(seconds=WINDOW_S),
        sample_rate=SAMPLE_RATE,
        distance_m=120.0,
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    return {"sensor": sensor, "key": key, "request": audio_request}
