"""Incidents for review tests, stored directly (the pipeline has its own tests).

``make_incident`` writes an Incident row as the pipeline leaves it; ``add_shot`` gives it a
located shot heard by real registered sensors (SensorPulse + Shot + ShotPulse rows), which
is what audio requests and retraining read.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import uuid

from django.utils import timezone

from apps.geo.models import Beat, District
from apps.incidents.models import Incident, IncidentStatus, Shot, ShotPulse
from apps.incidents.services import incident_number_next
from apps.sensors.models import SensorPulse
from tests.incidents.support import CENTRE, square_area
from tests.sensors.support import register

_serials = itertools.count(1)

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [
            [CENTRE[1] - 0.05, CENTRE[0] - 0.05],
            [CENTRE[1] + 0.05, CENTRE[0] - 0.05],
            [CENTRE[1] + 0.05, CENTRE[0] + 0.05],
            [CENTRE[1] - 0.05, CENTRE[0] + 0.05],
            [CENTRE[1] - 0.05, CENTRE[0] - 0.05],
        ]
    ],
}


def area_with_beat(*, agency, name="Central"):
    """A coverage area around CENTRE with one district and one beat covering it."""
    area = square_area(agency=agency, name=name)
    district = District.objects.create(agency=agency, name="District 7", boundary=SQUARE)
    Beat.objects.create(agency=agency, district=district, name="Beat 712", boundary=SQUARE)
    return area


def make_incident(
    *,
    area,
    status: str = IncidentStatus.PENDING_REVIEW,
    rounds: int = 1,
    probabilities: dict | None = None,
    detected_at: dt.datetime | None = None,
    lat: float = CENTRE[0],
    lon: float = CENTRE[1],
) -> Incident:
    probabilities = probabilities or {
        "gunfire": 0.7,
        "firework": 0.2,
        "backfire": 0.05,
        "construction": 0.03,
        "other": 0.02,
    }
    detected_at = detected_at or timezone.now()
    first = detected_at - dt.timedelta(seconds=3)
    return Incident.objects.create(
        agency=area.agency,
        coverage_area=area,
        number=incident_number_next(agency=area.agency),
        status=status,
        first_shot_at=first,
        last_shot_at=first + dt.timedelta(seconds=0.3 * (rounds - 1)),
        detected_at=detected_at,
        located_at=detected_at,
        latitude=lat,
        longitude=lon,
        ellipse_major_m=12.0,
        ellipse_minor_m=8.0,
        ellipse_azimuth_deg=30.0,
        origin_latitude=CENTRE[0],
        origin_longitude=CENTRE[1],
        rounds=rounds,
        machine_class=max(probabilities, key=probabilities.get),
        class_probabilities=probabilities,
        model_version="1",
        nearest_address="100 Main St",
    )


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def make_sensors(*, area, n: int = 5, radius_m: float = 300.0) -> list:
    sensors = []
    for k in range(n):
        angle = 2 * math.pi * k / n
        lat, lon = offset(
            CENTRE[0], CENTRE[1], radius_m * math.cos(angle), radius_m * math.sin(angle)
        )
        sensor, _ = register(
            agency=area.agency,
            serial=f"RV-{next(_serials):05d}",
            lat=lat,
            lon=lon,
            coverage_area=area,
        )
        sensors.append(sensor)
    return sensors


def add_shot(
    *,
    incident: Incident,
    sensors: list,
    emitted_at: dt.datetime | None = None,
    features: dict | None = None,
    c: float = 343.0,
) -> Shot:
    """A located shot at the incident's position heard by every sensor given."""
    emitted_at = emitted_at or incident.first_shot_at
    t0 = emitted_at.timestamp()
    shot = Shot.objects.create(
        incident=incident,
        emitted_at=emitted_at,
        emitted_epoch_s=t0,
        latitude=incident.latitude,
        longitude=incident.longitude,
        x_m=0.0,
        y_m=0.0,
        ellipse_major_m=10.0,
        ellipse_minor_m=6.0,
        ellipse_azimuth_deg=0.0,
        cov_xx=4.0,
        cov_xy=0.0,
        cov_yy=4.0,
        residual_rms_ms=0.4,
        n_sensors=len(sensors),
    )
    for sensor in sensors:
        dy = (sensor.latitude - incident.latitude) * 111_320.0
        dx = (
            (sensor.longitude - incident.longitude)
            * 111_320.0
            * math.cos(math.radians(incident.latitude))
        )
        distance = math.hypot(dx, dy)
        arrival = t0 + distance / c
        pulse = SensorPulse.objects.create(
            pulse_uuid=uuid.uuid4(),
            sensor=sensor,
            coverage_area=incident.coverage_area,
            latitude=sensor.latitude,
            longitude=sensor.longitude,
            elevation_m=sensor.elevation_m,
            position_error_m=1.0,
            arrival_time=dt.datetime.fromtimestamp(arrival, dt.UTC),
            arrival_epoch_s=arrival,
            power_db_spl=110.0,
            snr_db=25.0,
            features=features or {},
            processed_at=timezone.now(),
        )
        ShotPulse.objects.create(
            shot=shot, pulse=pulse, sensor=sensor, distance_m=distance, residual_ms=0.1
        )
    return shot
