"""Scenario helpers: deploy a generated acoustic scenario as real sensors and post its pulses.

The acoustic generator works in local metres and 2026 epoch times. A ``Deployment`` puts
its sensors on the map around a coverage area's centre (registered with real Ed25519
keys) and shifts every time so the last pulse arrives just before now; the pulses are
then posted per sensor, signed, through the real API.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
import time
import wave
from dataclasses import dataclass

import numpy as np
from django.utils import timezone

from apps.acoustics.generator import Options, generate_scenario
from apps.acoustics.geometry import LocalFrame
from apps.geo.models import CoverageArea
from apps.sensors.signing import generate_private_key
from tests.sensors.support import PULSES, encode, post_signed, register, signed_headers

CENTRE = (40.6936, -89.5890)  # Peoria, IL (the demo city)
GROUND_ELEVATION_M = 150.0
AUDIO_REQUESTS = "/api/v1/sensor/audio-requests"


@functools.lru_cache(maxsize=32)
def scenario(kind: str, seed: int, *, array_size: int = 7, distractors: bool = True):
    """A generated scenario (cached: generation takes seconds)."""
    return generate_scenario(
        kind=kind, seed=seed, options=Options(array_size=array_size, distractors=distractors)
    )


def square_area(*, agency, name="Central", half_width_m=3000.0, centre=CENTRE) -> CoverageArea:
    frame = LocalFrame(origin_lat_deg=centre[0], origin_lon_deg=centre[1])
    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]
    ring = []
    for sx, sy in corners:
        lat, lon, _ = frame.to_wgs84([sx * half_width_m, sy * half_width_m, 0.0])
        ring.append([float(lon), float(lat)])
    return CoverageArea.objects.create(
        agency=agency, name=name, boundary={"type": "Polygon", "coordinates": [ring]}
    )


def utc_text(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Deployment:
    scenario: object
    frame: LocalFrame
    sensors: dict  # scenario sensor id -> (Sensor, private key)
    shift_s: float

    def to_latlon(self, x: float, y: float, z: float = 0.0) -> tuple[float, float, float]:
        lat, lon, h = self.frame.to_wgs84([x, y, GROUND_ELEVATION_M + z])
        return float(lat), float(lon), float(h)

    def pulse_body(self, pulse) -> dict:
        return {
            "pulse_uuid": pulse.pulse_uuid,
            "arrival_time_utc": utc_text(pulse.t + self.shift_s),
            "power_db_spl": max(0.0, float(pulse.power_db_spl)),
            "signal_to_noise_db": float(pulse.snr_db),
            "features": dict(pulse.features.get("features", pulse.features)),
        }

    def pulses_by_sensor(self, *, sensor_ids=None) -> dict[str, list[dict]]:
        batches: dict[str, list[dict]] = {}
        for pulse in self.scenario.pulses:
            if sensor_ids is not None and pulse.sensor_id not in sensor_ids:
                continue
            batches.setdefault(pulse.sensor_id, []).append(self.pulse_body(pulse))
        return batches

    def truth_shots(self, label: str | None = None) -> list[dict]:
        shots = self.scenario.truth["shots"]
        return [s for s in shots if label is None or s["label"] == label]

    def sensors_by_distance(self, x: float, y: float) -> list[str]:
        positions = {s["serial_number"]: s for s in self.scenario.truth["sensors"]}
        heard = {p.sensor_id for p in self.scenario.pulses}
        return sorted(
            heard,
            key=lambda sid: math.hypot(positions[sid]["x"] - x, positions[sid]["y"] - y),
        )


def deploy(
    *,
    agency,
    area,
    kind: str,
    seed: int,
    array_size: int = 7,
    lag_s: float = 2.0,
    distractors: bool = True,
):
    """Register the scenario's sensors (those that report pulses) around the area centre."""
    sc = scenario(kind, seed, array_size=array_size, distractors=distractors)
    min_lon, min_lat, max_lon, max_lat = _bbox(area)
    frame = LocalFrame(
        origin_lat_deg=(min_lat + max_lat) / 2, origin_lon_deg=(min_lon + max_lon) / 2
    )
    heard = {p.sensor_id for p in sc.pulses}
    sensors = {}
    for record in sc.truth["sensors"]:
        if record["serial_number"] not in heard:
            continue
        lat, lon, h = frame.to_wgs84([record["x"], record["y"], GROUND_ELEVATION_M + record["z"]])
        sensor, key = register(
            agency=agency,
            serial=f"{record['serial_number']}-{agency.system_id}",
            lat=float(lat),
            lon=float(lon),
            key=generate_private_key(),
            coverage_area=area,
        )
        sensor.elevation_m = float(h)
        sensor.save(update_fields=["elevation_m"])
        sensors[record["serial_number"]] = (sensor, key)
    last = max(p.t for p in sc.pulses)
    shift = (time.time() - lag_s) - last
    return Deployment(scenario=sc, frame=frame, sensors=sensors, shift_s=shift)


def _bbox(area):
    from apps.geo.polygons import bounding_box

    return bounding_box(area.boundary)


def post_pulses(client, deployment: Deployment, *, sensor_ids=None) -> list:
    """POST each sensor's pulses as one signed batch through the test client."""
    replies = []
    for sensor_id, pulses in deployment.pulses_by_sensor(sensor_ids=sensor_ids).items():
        sensor, key = deployment.sensors[sensor_id]
        reply = post_signed(
            client, PULSES, {"pulses": pulses}, key=key, serial=sensor.serial_number
        )
        assert reply.status_code == 202, reply.content
        replies.append(reply)
    return replies


def inside_ellipse(
    *, centre_xy, point_xy, major_m: float, minor_m: float, azimuth_deg: float
) -> bool:
    """Is the point inside the ellipse (semi-axes, major axis azimuth from north)?"""
    dx, dy = point_xy[0] - centre_xy[0], point_xy[1] - centre_xy[1]
    az = math.radians(azimuth_deg)
    along = dx * math.sin(az) + dy * math.cos(az)  # component along the major axis
    across = dx * math.cos(az) - dy * math.sin(az)
    return (along / major_m) ** 2 + (across / max(minor_m, 1e-9)) ** 2 <= 1.0


# --- Audio ----------------------------------------------------------------------------------


def wav_bytes(*, seconds: float, rate: int = 12_000, channels: int = 1, width: int = 2) -> bytes:
    n = int(seconds * rate + 1e-9)  # whole samples that fit: never longer than asked
    t = np.arange(n) / rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    frames = np.repeat(samples, channels) if channels > 1 else samples
    if width == 1:
        frames = ((frames.astype(np.int32) >> 8) + 128).astype(np.uint8)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(frames.tobytes())
    return buffer.getvalue()


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def put_audio(
    client,
    *,
    request_id,
    body: bytes,
    start: dt.datetime | str | None,
    key,
    serial,
    content_type="audio/wav",
    sign_start=True,
):
    path = f"{AUDIO_REQUESTS}/{request_id}"
    extra = {}
    if start is not None:
        extra["Audio-Start-UTC"] = start if isinstance(start, str) else iso(start)
    headers = signed_headers(
        path=path,
        body=body,
        key=key,
        serial=serial,
        method="PUT",
        content_type=content_type,
        extra_headers=extra if sign_start else None,
    )
    if not sign_start:
        headers.update(extra)
    send = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return client.generic("PUT", path, data=body, content_type=content_type, headers=send)


def get_audio_requests(client, *, key, serial, nonce: str | None = None):
    headers = signed_headers(
        path=AUDIO_REQUESTS,
        body=b"",
        key=key,
        serial=serial,
        method="GET",
        content_type=None,
        nonce=nonce,
    )
    return client.get(AUDIO_REQUESTS, headers=headers)


def now() -> dt.datetime:
    return timezone.now()


__all__ = ["encode"]


def ingest(deployment: Deployment, *, sensor_ids=None) -> int:
    """Store the scenario's pulses through the ingest service, one batch per sensor.

    Use in tests that call the pipeline themselves (the on-commit hook does not run
    inside a test transaction); returns the number of pulses stored.
    """
    from apps.sensors.serializers import PulseBatchSerializer
    from apps.sensors.services import pulses_ingest

    stored = 0
    for sensor_id, pulses in deployment.pulses_by_sensor(sensor_ids=sensor_ids).items():
        serializer = PulseBatchSerializer(data={"pulses": pulses})
        serializer.is_valid(raise_exception=True)
        sensor, _ = deployment.sensors[sensor_id]
        stored += pulses_ingest(sensor=sensor, pulses=serializer.pulses_for_ingest()).accepted
    return stored


def post_pulses_live(base_url: str, deployment: Deployment, *, sensor_ids=None) -> list:
    """POST each sensor's pulses over real HTTP (requests) to a live server."""
    import requests

    replies = []
    for sensor_id, pulses in deployment.pulses_by_sensor(sensor_ids=sensor_ids).items():
        sensor, key = deployment.sensors[sensor_id]
        body = encode({"pulses": pulses})
        headers = signed_headers(
            path=PULSES, body=body, key=key, serial=sensor.serial_number, base=base_url
        )
        reply = requests.post(base_url + PULSES, data=body, headers=headers, timeout=60)
        assert reply.status_code == 202, reply.text
        replies.append(reply)
    return replies
