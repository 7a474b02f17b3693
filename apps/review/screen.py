"""What the review screen shows about one incident, gathered in one place (read-only).

The sensor-to-source distance of a sensor is computed once here (``sensor_distances``)
and that one number is used in the sensor table, the audio column header and each
audio player (release 2014.2: the maximum distance at the audio column disagreed with
the distances beneath it). It follows the rule the audio requests use
(``apps.incidents.services.audio_candidates``): the sensor's shot-pulse distance in the
incident's best located shot when it took part in it, else its smallest one.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from apps.incidents.models import AudioClip, Incident, IncidentStatus, Shot, ShotPulse
from apps.review.waveforms import ClipPictures, clip_pictures

EARTH_M_PER_DEG = 111_320.0
NEARBY_RADIUS_M = 1000.0
NEARBY_DAYS = 7
ELLIPSE_POINTS = 48


def best_shot(shots: list[Shot]) -> Shot | None:
    """The incident's best located shot (main shooter, most sensors, smallest ellipse)."""
    if not shots:
        return None
    main = [s for s in shots if s.shooter == 0] or shots
    return max(main, key=lambda s: (s.n_sensors, -s.ellipse_major_m, -s.pk))


def ellipse_latlngs(
    *, lat: float, lon: float, major_m: float, minor_m: float, azimuth_deg: float
) -> list[list[float]]:
    """The 95% ellipse as a closed ring of [lat, lon] (semi-axes in metres, azimuth from
    north, clockwise, of the major axis)."""
    az = math.radians(azimuth_deg)
    m_per_deg_lon = EARTH_M_PER_DEG * max(math.cos(math.radians(lat)), 1e-6)
    ring = []
    for i in range(ELLIPSE_POINTS + 1):
        t = 2 * math.pi * i / ELLIPSE_POINTS
        along, across = major_m * math.cos(t), minor_m * math.sin(t)
        east = along * math.sin(az) + across * math.cos(az)
        north = along * math.cos(az) - across * math.sin(az)
        ring.append([lat + north / EARTH_M_PER_DEG, lon + east / m_per_deg_lon])
    return ring


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, spherical Earth)."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@dataclass
class SensorRow:
    sensor_id: int
    serial: str
    latitude: float
    longitude: float
    distance_m: float
    pulses: int = 0
    max_abs_residual_ms: float = 0.0
    first_arrival: dt.datetime | None = None
    has_clip: bool = False


@dataclass
class ClipView:
    clip: AudioClip
    serial: str
    distance_m: float
    pictures: ClipPictures
    # Pulse arrivals of this sensor as (seconds from the clip start, shot number).
    marks: list[tuple[float, int]] = field(default_factory=list)


def sensor_distances(incident: Incident) -> tuple[list[SensorRow], list[ShotPulse]]:
    """One row per participating sensor, nearest first, with THE distance of each."""
    shots = list(incident.shots.order_by("emitted_epoch_s", "id"))
    best = best_shot(shots)
    members = list(
        ShotPulse.objects.filter(shot__incident=incident)
        .select_related("sensor", "pulse")
        .order_by("shot__emitted_epoch_s", "distance_m", "id")
    )
    rows: dict[int, SensorRow] = {}
    in_best: dict[int, float] = {}
    for sp in members:
        row = rows.get(sp.sensor_id)
        if row is None:
            row = rows[sp.sensor_id] = SensorRow(
                sensor_id=sp.sensor_id,
                serial=sp.sensor.serial_number,
                latitude=sp.pulse.latitude,
                longitude=sp.pulse.longitude,
                distance_m=sp.distance_m,
            )
        row.distance_m = min(row.distance_m, sp.distance_m)
        row.pulses += 1
        row.max_abs_residual_ms = max(row.max_abs_residual_ms, abs(sp.residual_ms))
        if row.first_arrival is None or sp.pulse.arrival_time < row.first_arrival:
            row.first_arrival = sp.pulse.arrival_time
        if best is not None and sp.shot_id == best.pk:
            in_best[sp.sensor_id] = sp.distance_m
    for sensor_id, distance in in_best.items():
        rows[sensor_id].distance_m = distance
    ordered = sorted(rows.values(), key=lambda r: (r.distance_m, r.serial))
    return ordered, members


def nearby_incidents(incident: Incident) -> list[dict]:
    """Incidents of the same agency within 1 km and 7 days before this one (newest first)."""
    d_lat = NEARBY_RADIUS_M / EARTH_M_PER_DEG
    d_lon = d_lat / max(math.cos(math.radians(incident.latitude)), 1e-6)
    since = incident.first_shot_at - dt.timedelta(days=NEARBY_DAYS)
    candidates = (
        Incident.objects.filter(
            agency_id=incident.agency_id,
            first_shot_at__gte=since,
            first_shot_at__lte=incident.first_shot_at,
            latitude__range=(incident.latitude - d_lat, incident.latitude + d_lat),
            longitude__range=(incident.longitude - d_lon, incident.longitude + d_lon),
        )
        .exclude(pk=incident.pk)
        .select_related("agency", "review_decision")
        .order_by("-first_shot_at")[:50]
    )
    found = []
    for other in candidates:
        d = distance_m(incident.latitude, incident.longitude, other.latitude, other.longitude)
        if d <= NEARBY_RADIUS_M:
            decision = getattr(other, "review_decision", None)
            found.append(
                {
                    "incident": other,
                    "distance_m": d,
                    "label": decision.type_label if decision else other.get_status_display(),
                    "latitude": other.latitude,
                    "longitude": other.longitude,
                }
            )
    return found[:10]


def shot_timeline(shots: list[Shot]) -> dict:
    """Offsets of the shots from the first (s) and the gaps between them, for the SVG."""
    if not shots:
        return {"shots": [], "span_s": 0.0, "ticks": []}
    t0 = shots[0].emitted_epoch_s
    offsets = [s.emitted_epoch_s - t0 for s in shots]
    span = max(offsets[-1], 0.5)
    width = 600.0
    items = []
    for i, (shot, offset) in enumerate(zip(shots, offsets, strict=True)):
        items.append(
            {
                "number": i + 1,
                "offset_s": offset,
                "x": 10 + offset / span * (width - 20),
                "gap_ms": (offset - offsets[i - 1]) * 1000 if i else None,
                "shooter": shot.shooter,
            }
        )
    step = 0.1 if span <= 1 else 0.5 if span <= 5 else 1.0 if span <= 12 else 5.0
    ticks = []
    k = 0
    while k * step <= span + 1e-9:
        ticks.append({"x": 10 + k * step / span * (width - 20), "label": f"{k * step:g} s"})
        k += 1
    return {"shots": items, "span_s": offsets[-1], "ticks": ticks}


def map_data(incident: Incident, shots: list[Shot], sensors: list[SensorRow], nearby) -> dict:
    """Everything the Leaflet map draws, as plain JSON."""
    return {
        "incident": {
            "lat": incident.latitude,
            "lon": incident.longitude,
            "reference": incident.reference,
            "ellipse": ellipse_latlngs(
                lat=incident.latitude,
                lon=incident.longitude,
                major_m=incident.ellipse_major_m,
                minor_m=incident.ellipse_minor_m,
                azimuth_deg=incident.ellipse_azimuth_deg,
            ),
            "major_m": round(incident.ellipse_major_m, 1),
            "minor_m": round(incident.ellipse_minor_m, 1),
        },
        "shots": [
            {
                "number": i + 1,
                "lat": s.latitude,
                "lon": s.longitude,
                "ellipse": ellipse_latlngs(
                    lat=s.latitude,
                    lon=s.longitude,
                    major_m=s.ellipse_major_m,
                    minor_m=s.ellipse_minor_m,
                    azimuth_deg=s.ellipse_azimuth_deg,
                ),
            }
            for i, s in enumerate(shots)
        ],
        "sensors": [
            {
                "serial": r.serial,
                "lat": r.latitude,
                "lon": r.longitude,
                "distance_m": round(r.distance_m),
                "clip": r.has_clip,
            }
            for r in sensors
        ],
        "nearby": [
            {
                "reference": n["incident"].reference,
                "lat": n["latitude"],
                "lon": n["longitude"],
                "label": n["label"],
            }
            for n in nearby
        ],
        "area": incident.coverage_area.boundary,
    }


def clip_views(incident: Incident, sensors: list[SensorRow], members: list[ShotPulse]):
    """The incident's clips, nearest sensor first, each with its pictures and pulse marks."""
    distance_of = {r.sensor_id: r.distance_m for r in sensors}
    shot_numbers = {}
    for sp in members:
        shot_numbers.setdefault(sp.shot_id, len(shot_numbers) + 1)
    views = []
    clips = AudioClip.objects.filter(incident=incident).select_related("sensor")
    for clip in clips:
        try:
            with clip.file.open("rb") as handle:
                pictures = clip_pictures(handle.read())
        except OSError as error:
            pictures = ClipPictures("", "", 0, error=f"clip file unreadable: {error}")
        marks = []
        for sp in members:
            if sp.sensor_id != clip.sensor_id:
                continue
            offset = (sp.pulse.arrival_time - clip.start_time).total_seconds()
            if 0 <= offset <= clip.duration_s:
                marks.append((offset, shot_numbers[sp.shot_id]))
        views.append(
            ClipView(
                clip=clip,
                serial=clip.sensor.serial_number,
                # THE distance of the sensor; the clip's own copy only if it left the shots.
                distance_m=distance_of.get(clip.sensor_id, clip.distance_m),
                pictures=pictures,
                marks=marks,
            )
        )
    views.sort(key=lambda v: (v.distance_m, v.serial))
    return views


def probabilities(incident: Incident) -> list[dict]:
    items = sorted((incident.class_probabilities or {}).items(), key=lambda kv: kv[1], reverse=True)
    return [
        {"name": name, "p": float(p), "percent": round(float(p) * 100)}
        for name, p in items
        if isinstance(p, int | float)
    ]


def review_screen(incident: Incident) -> dict:
    shots = list(incident.shots.order_by("emitted_epoch_s", "id"))
    sensors, members = sensor_distances(incident)
    clips = clip_views(incident, sensors, members)
    with_clip = {v.clip.sensor_id for v in clips}
    for row in sensors:
        row.has_clip = row.sensor_id in with_clip
    nearby = nearby_incidents(incident)
    return {
        "shots": shots,
        "sensors": sensors,
        "clips": clips,
        # The audio column header: the farthest of the players below it, same numbers.
        "audio_max_distance_m": max((v.distance_m for v in clips), default=None),
        "timeline": shot_timeline(shots),
        "probabilities": probabilities(incident),
        "nearby": nearby,
        "map": map_data(incident, shots, sensors, nearby),
        "in_review": incident.status == IncidentStatus.PENDING_REVIEW,
    }
