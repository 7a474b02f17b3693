"""Review-UI test support: realistic incidents in the database, a real ASGI server and
headless Chromium.

``make_incident`` writes what the pipeline would have written for a located incident
in review: sensors around the source, their pulses (arrival = emission + distance / c),
the located shots with their 95% ellipses, the shot pulses with THE distance of each
sensor, and stored audio clips (gunshot-like impulses at the arrivals, with an echo,
in background noise) exactly as ``audio_clip_store`` keeps them (sha256, size).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import math
import os
import uuid
import wave
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.utils import timezone

from apps.incidents.models import (
    AudioClip,
    AudioRequest,
    AudioRequestStatus,
    Incident,
    IncidentStatus,
    Shot,
    ShotPulse,
)
from apps.sensors.models import Sensor, SensorPulse

SPEED_OF_SOUND = 343.0
RATE = 12_000
CENTRE = (40.6936, -89.5890)  # Peoria, IL (the demo city)
M_PER_DEG = 111_320.0
REPO_ROOT = Path(__file__).resolve().parents[2]

# Sensor layout around the source: (east m, north m).
DEFAULT_LAYOUT = [
    (-120.0, 95.0),
    (210.0, -60.0),
    (-40.0, -260.0),
    (330.0, 240.0),
    (-380.0, -170.0),
    (60.0, 470.0),
]


def offset_latlon(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (
        lat + north_m / M_PER_DEG,
        lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))),
    )


def clip_wav(*, start_s: float, duration_s: float, arrivals_s: list[float], seed: int) -> bytes:
    """16-bit mono WAV: street noise plus, per arrival, a muzzle-blast-like impulse with a
    reverberant tail and one echo."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * RATE))
    t = np.arange(n) / RATE
    rumble = np.convolve(rng.normal(0.0, 1.0, n), np.exp(-np.arange(240) / 60.0), "same")
    signal = 0.004 * rumble / max(np.abs(rumble).max(), 1e-9) * 3 + rng.normal(0.0, 0.003, n)
    tail_noise = rng.normal(0.0, 1.0, n)
    for k, arrival in enumerate(arrivals_s):
        for delay, gain in ((0.0, 1.0), (0.045 + 0.01 * k, 0.35)):
            local = t - (arrival - start_s + delay)
            on = local >= 0
            pulse = np.zeros(n)
            pulse[on] = (1 - local[on] / 0.004) * np.exp(-local[on] / 0.004)
            pulse[on] += 0.25 * np.sin(2 * np.pi * 900 * local[on]) * np.exp(-local[on] / 0.03)
            pulse[on] += 0.08 * tail_noise[on] * np.exp(-local[on] / 0.12)
            signal += 0.6 * gain * pulse
    signal = np.clip(signal, -0.99, 0.99)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((signal * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def make_sensor(*, agency, area, serial: str, lat: float, lon: float) -> Sensor:
    return Sensor.objects.create(
        serial_number=serial,
        agency=agency,
        coverage_area=area,
        latitude=lat,
        longitude=lon,
        elevation_m=150.0,
        public_key=base64.b64encode(os.urandom(32)).decode(),
    )


def make_incident(
    *,
    agency,
    area,
    number: int | None = None,
    rounds: int = 3,
    gap_s: float = 0.42,
    layout=DEFAULT_LAYOUT,
    clips: int = 4,
    detected_ago_s: float = 5.0,
    source: tuple[float, float] | None = None,
    probabilities: dict | None = None,
    status: str = IncidentStatus.PENDING_REVIEW,
    serial_prefix: str | None = None,
    address: str = "1200 W Main St",
) -> Incident:
    """A located incident with its sensors, pulses, shots and ``clips`` stored clips."""
    now = timezone.now()
    lat0, lon0 = source or offset_latlon(*CENTRE, 80.0, -40.0)
    first_emission = now - dt.timedelta(seconds=detected_ago_s + 1.5)
    if number is None:
        number = (Incident.objects.filter(agency=agency).count() or 0) + 1
    probabilities = probabilities or {
        "gunfire": 0.86,
        "firework": 0.08,
        "backfire": 0.03,
        "construction": 0.02,
        "other": 0.01,
    }
    emissions = [first_emission + dt.timedelta(seconds=i * gap_s) for i in range(rounds)]
    incident = Incident.objects.create(
        agency=agency,
        coverage_area=area,
        number=number,
        status=status,
        first_shot_at=emissions[0],
        last_shot_at=emissions[-1],
        detected_at=now - dt.timedelta(seconds=detected_ago_s),
        latitude=lat0,
        longitude=lon0,
        ellipse_major_m=24.0,
        ellipse_minor_m=9.0,
        ellipse_azimuth_deg=35.0,
        origin_latitude=CENTRE[0],
        origin_longitude=CENTRE[1],
        rounds=rounds,
        cadence_rpm=60.0 / gap_s if rounds > 1 else None,
        n_sensors=len(layout),
        machine_class=max(probabilities, key=probabilities.get),
        class_probabilities=probabilities,
        model_version="2026.11-test",
        nearest_address=address,
        nearest_address_distance_m=12.0,
    )
    prefix = serial_prefix or f"S{agency.system_id}-{incident.pk}"
    sensors = []
    for k, (east, north) in enumerate(layout):
        lat, lon = offset_latlon(lat0, lon0, east, north)
        serial = f"{prefix}-{k + 1:02d}"
        sensor = make_sensor(agency=agency, area=area, serial=serial, lat=lat, lon=lon)
        sensors.append((sensor, math.hypot(east, north)))
    arrivals: dict[int, list[dt.datetime]] = {}
    for i, emitted in enumerate(emissions):
        shot = Shot.objects.create(
            incident=incident,
            emitted_at=emitted,
            emitted_epoch_s=emitted.timestamp(),
            latitude=lat0 + (i - 1) * 1e-5,
            longitude=lon0 + (i - 1) * 1e-5,
            x_m=80.0,
            y_m=-40.0,
            ellipse_major_m=24.0 + 3 * i,
            ellipse_minor_m=9.0 + i,
            ellipse_azimuth_deg=35.0,
            cov_xx=60.0,
            cov_xy=10.0,
            cov_yy=25.0,
            residual_rms_ms=0.6,
            n_sensors=len(sensors),
        )
        for k, (sensor, distance) in enumerate(sensors):
            arrival = emitted + dt.timedelta(seconds=distance / SPEED_OF_SOUND)
            arrivals.setdefault(sensor.pk, []).append(arrival)
            pulse = SensorPulse.objects.create(
                pulse_uuid=uuid.uuid4(),
                sensor=sensor,
                coverage_area=area,
                latitude=sensor.latitude,
                longitude=sensor.longitude,
                elevation_m=150.0,
                position_error_m=5.0,
                arrival_time=arrival,
                arrival_epoch_s=arrival.timestamp(),
                power_db_spl=120.0 - 20 * math.log10(max(distance, 1.0)),
                snr_db=25.0,
                processed_at=now,
            )
            ShotPulse.objects.create(
                shot=shot,
                pulse=pulse,
                sensor=sensor,
                distance_m=distance,
                residual_ms=0.3 * ((k % 3) - 1) + 0.1 * i,
            )
    for k, (sensor, distance) in enumerate(sorted(sensors, key=lambda s: s[1])[:clips]):
        first = arrivals[sensor.pk][0]
        start = first - dt.timedelta(seconds=2.0)
        duration = (emissions[-1] - emissions[0]).total_seconds() + 6.0
        body = clip_wav(
            start_s=start.timestamp(),
            duration_s=duration,
            arrivals_s=[a.timestamp() for a in arrivals[sensor.pk]],
            seed=incident.pk * 10 + k,
        )
        request = AudioRequest.objects.create(
            incident=incident,
            sensor=sensor,
            window_start=start,
            window_end=start + dt.timedelta(seconds=duration),
            sample_rate=RATE,
            distance_m=distance,
            status=AudioRequestStatus.FULFILLED,
            expires_at=now + dt.timedelta(minutes=10),
            fulfilled_at=now,
        )
        clip = AudioClip(
            incident=incident,
            sensor=sensor,
            request=request,
            start_time=start,
            sample_rate=RATE,
            n_samples=int(round(duration * RATE)),
            duration_s=duration,
            sha256=hashlib.sha256(body).hexdigest(),
            size_bytes=len(body),
            distance_m=distance,
        )
        clip.file.save("clip.wav", ContentFile(body), save=False)
        clip.save()
    return incident
