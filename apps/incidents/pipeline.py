"""The live detection pipeline of one coverage area: pulses -> shots -> incidents.

``process_coverage_area`` is what the Celery task runs after sensor batches commit:

1. Under the area's lock (``locks.coverage_area_lock``), read the area's unprocessed
   pulses and split them into segments (gaps longer than the window start a new one).
2. For each segment, load every pulse of the area from ``PIPELINE_WINDOW_S`` before to
   ``PIPELINE_WINDOW_S`` after it, plus all pulses of shots already stored that touch
   it, convert positions to local east-north-up metres around the area's centre, and
   run ``apps.acoustics.association.associate``. Small windows are searched from every
   pulse; in large ones association is incremental: only the new pulses, the pulses of
   stored shots and the loudest others are tried as seeds (every pulse of the window
   can still join a shot), so a run costs what arrived, not the whole window; stored
   shots are found again first, so their echoes cannot pass as new shots.
3. Match each located shot to the stored shots by pulse overlap. A match refines that
   shot (new pulses, new fix) instead of creating another, so re-running a window is
   idempotent and late pulses refine the same incident (its revision is bumped). A
   stored shot that the run, seeing all of its pulses and more, no longer finds (e.g. an
   echo ghost created before the direct arrivals came in) is retracted, as long as its
   incident is still the machine's and keeps another shot. Shots of closed incidents are
   final: never refined or retracted, and their pulses are consumed (a located shot that
   took some is located again from its other pulses), so a closed incident never changes.
4. New shots join an open incident of the area when close in time and place (the
   semantics of ``apps.acoustics.incidents.bundle``: at most ``INCIDENT_MAX_GAP_S`` from
   its shots and ``INCIDENT_RADIUS_M`` from its first shot), otherwise they are bundled
   into new incidents (numbered per agency).
5. Each created or changed incident is summarised (rounds, cadence, automatic fire,
   shooters), placed (beat, district, nearest address), classified and routed:
   non-explosive -> ``filtered`` (no audio ever); explosive-like -> ``pending_review``
   with audio requests to its nearest sensors (asked or stretched only while the machine's
   current call is explosive-like: ``services.audio_allowed``). Events go out after the
   commit.
6. The considered pulses are marked processed, and incidents whose window passed are
   closed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.utils import timezone

from apps.acoustics.association import AssociationError, associate
from apps.acoustics.geometry import LocalFrame
from apps.acoustics.incidents import bundle
from apps.acoustics.sound import speed_of_sound, weather_wind
from apps.acoustics.types import LocatedShot, Pulse, Weather
from apps.geo.models import CoverageArea
from apps.geo.polygons import bounding_box
from apps.incidents import classification, events, selectors, services
from apps.incidents.conf import incident_setting
from apps.incidents.locks import coverage_area_lock
from apps.incidents.models import Incident, IncidentStatus, Shot, ShotPulse
from apps.sensors.models import SensorPulse

logger = logging.getLogger("apps.incidents.pipeline")

MIN_SENSORS = 4  # association needs 4 consistent sensors to locate a shot in the plane


@dataclass
class RunReport:
    coverage_area_id: int
    pulses_processed: int = 0
    shots_located: int = 0
    incidents_created: list[int] = field(default_factory=list)
    incidents_refined: list[int] = field(default_factory=list)
    incidents_closed: int = 0
    more_pending: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "coverage_area_id": self.coverage_area_id,
            "pulses_processed": self.pulses_processed,
            "shots_located": self.shots_located,
            "incidents_created": self.incidents_created,
            "incidents_refined": self.incidents_refined,
            "incidents_closed": self.incidents_closed,
            "more_pending": self.more_pending,
            "errors": self.errors,
        }


def pipeline_weather() -> Weather:
    return Weather(
        temperature_c=float(incident_setting("PIPELINE_TEMPERATURE_C")),
        wind_speed_ms=float(incident_setting("PIPELINE_WIND_SPEED_MS")),
        wind_from_deg=float(incident_setting("PIPELINE_WIND_FROM_DEG")),
    )


def area_frame(area: CoverageArea) -> LocalFrame:
    """East-north-up frame around the centre of the area's bounding box."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(area.boundary)
    return LocalFrame(
        origin_lat_deg=(min_lat + max_lat) / 2, origin_lon_deg=(min_lon + max_lon) / 2
    )


def _utc(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC)


def segments(times: list[float], *, gap_s: float, max_len_s: float) -> list[tuple[float, float]]:
    """Split sorted times into (start, end) runs: a new run after a gap or when too long."""
    runs: list[tuple[float, float]] = []
    for t in times:
        if runs and t - runs[-1][1] <= gap_s and t - runs[-1][0] <= max_len_s:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


@dataclass
class _Context:
    area: CoverageArea
    frame: LocalFrame
    weather: Weather
    c: float
    wind_xy: np.ndarray
    now: dt.datetime
    report: RunReport
    touched: set[int] = field(default_factory=set)
    created: set[int] = field(default_factory=set)

    def to_local(self, lat, lon, height) -> np.ndarray:
        return self.frame.to_local(lat_deg=lat, lon_deg=lon, height_m=height)


# --- Entry point ------------------------------------------------------------------------------


def process_coverage_area(
    *,
    coverage_area_id: int,
    window: tuple[dt.datetime, dt.datetime] | None = None,
    now: dt.datetime | None = None,
) -> RunReport:
    """Run the pipeline for one coverage area (see the module docstring).

    With ``window`` the pulses arriving in [start, end] are (re-)associated whether or not
    they were processed before (idempotent: stored shots are matched, not duplicated).
    Raises ``classification.ClassifierUnavailable`` (nothing written) without a model.
    """
    report = RunReport(coverage_area_id=coverage_area_id)
    area = CoverageArea.objects.select_related("agency").filter(pk=coverage_area_id).first()
    if area is None:
        report.errors.append("no such coverage area")
        return report
    weather = pipeline_weather()
    with coverage_area_lock(area.pk):
        ctx = _Context(
            area=area,
            frame=area_frame(area),
            weather=weather,
            c=speed_of_sound(weather.temperature_c),
            wind_xy=weather_wind(weather),
            now=now or timezone.now(),
            report=report,
        )
        pad = float(incident_setting("PIPELINE_WINDOW_S"))
        pulse_ids: list[int] = []
        new_ids: set[int] | None = None  # None: every pulse of the window is a seed
        if window is None:
            limit = int(incident_setting("PIPELINE_MAX_PULSES_PER_RUN"))
            rows = list(
                SensorPulse.objects.filter(coverage_area_id=area.pk, processed_at__isnull=True)
                .order_by("arrival_time", "id")
                .values_list("id", "arrival_epoch_s")[: limit + 1]
            )
            report.more_pending = len(rows) > limit
            rows = rows[:limit]
            pulse_ids = [pk for pk, _ in rows]
            new_ids = set(pulse_ids)
            spans = segments(
                [t for _, t in rows],
                gap_s=pad,
                max_len_s=float(incident_setting("PIPELINE_SEGMENT_MAX_S")),
            )
            spans = [(start - pad, end + pad) for start, end in spans]
        else:
            spans = [(window[0].timestamp(), window[1].timestamp())]
        for start, end in spans:
            _process_span(ctx, start=start, end=end, new_ids=new_ids)
        for incident_id in sorted(ctx.touched):
            _refresh_incident(ctx, incident_id=incident_id, created=incident_id in ctx.created)
        if pulse_ids:
            for chunk in range(0, len(pulse_ids), 5000):
                SensorPulse.objects.filter(
                    id__in=pulse_ids[chunk : chunk + 5000], processed_at__isnull=True
                ).update(processed_at=ctx.now)
        report.pulses_processed = len(pulse_ids)
        report.incidents_closed = services.incidents_close_passed(
            now=ctx.now, coverage_area_id=area.pk
        )
    if report.more_pending:
        transaction.on_commit(lambda: services.schedule_coverage_area(coverage_area_id=area.pk))
    return report


# --- One span of time ---------------------------------------------------------------------------


def _load_pulses(
    ctx: _Context, *, start: float, end: float
) -> tuple[dict[int, SensorPulse], set[int]]:
    """The window's pulses by id, and the ids of those that belong to stored shots."""
    fields = (
        "id",
        "sensor_id",
        "latitude",
        "longitude",
        "elevation_m",
        "position_error_m",
        "arrival_time",
        "arrival_epoch_s",
        "power_db_spl",
        "snr_db",
        "features",
    )
    in_window = {
        p.pk: p
        for p in SensorPulse.objects.filter(
            coverage_area_id=ctx.area.pk,
            arrival_time__gte=_utc(start),
            arrival_time__lte=_utc(end),
        ).only(*fields)
    }
    if not in_window:
        return in_window, set()
    # Whole shots: a stored shot that touches the window brings all of its pulses, so a
    # partial view of it cannot be mistaken for a different, weaker shot.
    shot_ids = set(
        ShotPulse.objects.filter(pulse_id__in=list(in_window)).values_list("shot_id", flat=True)
    )
    in_shots: set[int] = set()
    if shot_ids:
        in_shots = set(
            ShotPulse.objects.filter(shot_id__in=shot_ids).values_list("pulse_id", flat=True)
        )
        missing = in_shots - set(in_window)
        if missing:
            for p in SensorPulse.objects.filter(id__in=missing).only(*fields):
                in_window[p.pk] = p
    return in_window, in_shots


def acoustic_pulses(frame: LocalFrame, rows: list[SensorPulse]) -> list[Pulse]:
    """Stored pulses as the acoustic core's pulses, in ``frame``'s local metres (the pulse's
    primary key is its uuid there)."""
    xyz = frame.to_local(
        lat_deg=np.array([r.latitude for r in rows]),
        lon_deg=np.array([r.longitude for r in rows]),
        height_m=np.array([r.elevation_m for r in rows]),
    )
    return [
        Pulse(
            pulse_uuid=str(r.pk),
            sensor_id=str(r.sensor_id),
            t=r.arrival_epoch_s,
            x=float(xyz[i, 0]),
            y=float(xyz[i, 1]),
            z=float(xyz[i, 2]),
            power_db_spl=r.power_db_spl,
            snr_db=r.snr_db,
            location_error_m=r.position_error_m,
            features=r.features or {},
        )
        for i, r in enumerate(rows)
    ]


def _process_span(ctx: _Context, *, start: float, end: float, new_ids: set[int] | None) -> None:
    rows, in_shots = _load_pulses(ctx, start=start, end=end)
    if len({r.sensor_id for r in rows.values()}) < MIN_SENSORS:
        return
    ordered = sorted(rows.values(), key=lambda r: (r.arrival_epoch_s, r.pk))
    pulses = acoustic_pulses(ctx.frame, ordered)
    seeds = None  # every pulse
    outside_shots = len(rows) - len(in_shots)
    if new_ids is not None and outside_shots > int(
        incident_setting("PIPELINE_FULL_SEED_MAX_PULSES")
    ):
        seeds = {str(pk) for pk in rows if pk in new_ids or pk in in_shots}
        # Also the loudest pulses not in a shot yet: a shot completed by a far sensor's
        # pulse is found best from its nearest sensors' (well-conditioned) arrivals.
        loose = [r for pk, r in rows.items() if pk not in in_shots and pk not in new_ids]
        loose.sort(key=lambda r: -r.power_db_spl)
        seeds.update(str(r.pk) for r in loose[: int(incident_setting("PIPELINE_EXTRA_SEEDS"))])
    try:
        located = associate(
            pulses, c=ctx.c, wind_xy=ctx.wind_xy, source_z=None, seed_pulse_uuids=seeds
        )
    except AssociationError as error:
        logger.warning(
            "coverage area %s: association refused %s..%s: %s",
            ctx.area.pk,
            _utc(start).isoformat(),
            _utc(end).isoformat(),
            error,
        )
        ctx.report.errors.append(str(error))
        return
    ctx.report.shots_located += len(located)
    if not located:
        return
    by_id = {int(p.pulse_uuid): p for p in pulses}
    _reconcile(ctx, located=located, rows=rows, acoustic=by_id)


# --- Matching located shots to stored ones ----------------------------------------------------


def _reconcile(
    ctx: _Context,
    *,
    located: list[LocatedShot],
    rows: dict[int, SensorPulse],
    acoustic: dict[int, Pulse],
) -> None:
    pulse_to_shot = dict(
        ShotPulse.objects.filter(pulse_id__in=list(rows)).values_list("pulse_id", "shot_id")
    )
    shot_sizes = Counter(pulse_to_shot.values())
    # Shots of closed incidents are final ("no shot can join any more"): found again they
    # are left as they are, never retracted, and their pulses stay theirs.
    final = selectors.shot_ids_final(shot_ids=set(shot_sizes))
    final_pulses = {p for p, s in pulse_to_shot.items() if s in final}
    claimed: set[int] = set()
    new_shots: list[LocatedShot] = []
    pending = sorted(located, key=lambda s: (-s.n_sensors, s.t_emit))
    while pending:
        shot = pending.pop(0)
        ids = {int(u) for u in shot.pulse_uuids}
        overlaps = Counter(pulse_to_shot[p] for p in ids if p in pulse_to_shot)
        match = None
        for shot_id, n in sorted(overlaps.items(), key=lambda item: (-item[1], item[0])):
            if shot_id in claimed:
                continue
            if 2 * n >= min(len(ids), shot_sizes[shot_id]):
                match = shot_id
                break
        if match in final:
            claimed.add(match)
            continue
        if ids & final_pulses:
            # It took pulses of a final shot: they are consumed, so it is located again from
            # its other pulses alone (and gone if those no longer make a shot).
            free = [acoustic[p] for p in sorted(ids - final_pulses)]
            pending[:0] = _relocated(ctx, pulses=free)
            continue
        if match is None:
            new_shots.append(shot)
            continue
        claimed.add(match)
        stored = {p for p, s in pulse_to_shot.items() if s == match}
        if ids < stored:
            continue  # a weaker view of a stored shot (some of its pulses fell out)
        if _refine_shot(ctx, shot_id=match, located=shot, rows=rows, acoustic=acoustic):
            for p in ids:
                pulse_to_shot[p] = match
    if new_shots:
        _add_new_shots(ctx, shots=new_shots, rows=rows, acoustic=acoustic)
    _retract_unsupported(ctx, unsupported=set(shot_sizes) - claimed - final)


def _relocated(ctx: _Context, *, pulses: list[Pulse]) -> list[LocatedShot]:
    """The shots ``pulses`` alone make (strongest first), none if they cannot be located."""
    if len({p.sensor_id for p in pulses}) < MIN_SENSORS:
        return []
    try:
        located = associate(pulses, c=ctx.c, wind_xy=ctx.wind_xy, source_z=None)
    except AssociationError:
        return []
    return sorted(located, key=lambda s: (-s.n_sensors, s.t_emit))


def _retract_unsupported(ctx: _Context, *, unsupported: set[int]) -> None:
    """Drop stored shots this run's association did not find again (see the docstring).

    Only from incidents that no human has decided yet, and never an incident's last
    shot: an incident does not vanish from a reviewer's queue by the machine's hand.
    (Shots of closed incidents never get here: ``_reconcile`` leaves them out.)
    """
    if not unsupported:
        return
    machine_owned = (IncidentStatus.FILTERED, IncidentStatus.PENDING_REVIEW)
    shots = Shot.objects.filter(pk__in=unsupported, incident__status__in=machine_owned)
    by_incident: dict[int, set[int]] = {}
    for shot_id, incident_id in shots.values_list("id", "incident_id"):
        by_incident.setdefault(incident_id, set()).add(shot_id)
    for incident_id, shot_ids in by_incident.items():
        kept = (
            Shot.objects.filter(incident_id=incident_id, shot_pulses__isnull=False)
            .exclude(pk__in=shot_ids)
            .distinct()
        )
        if not kept.exists():
            continue
        logger.info("incident %s: retracting shot(s) %s no longer found", incident_id, shot_ids)
        ShotPulse.objects.filter(shot_id__in=shot_ids).delete()
        ctx.touched.add(incident_id)


def _shot_fields(ctx: _Context, located: LocatedShot, acoustic: dict[int, Pulse]) -> dict:
    members = [acoustic[int(u)] for u in located.pulse_uuids]
    height = float(np.mean([p.z for p in members]))
    lat, lon, _ = ctx.frame.to_wgs84([located.x, located.y, height])
    cov = located.cov_xy
    return {
        "emitted_at": _utc(located.t_emit),
        "emitted_epoch_s": located.t_emit,
        "latitude": float(lat),
        "longitude": float(lon),
        "x_m": located.x,
        "y_m": located.y,
        "z_m": located.z,
        "ellipse_major_m": located.ellipse95_major_m,
        "ellipse_minor_m": located.ellipse95_minor_m,
        "ellipse_azimuth_deg": located.ellipse95_azimuth_deg,
        "cov_xx": float(cov[0][0]),
        "cov_xy": float(cov[0][1]),
        "cov_yy": float(cov[1][1]),
        "residual_rms_ms": located.residual_rms_s * 1000.0,
        "n_sensors": located.n_sensors,
        "outside_hull": located.outside_hull,
        "confident": located.confident,
    }


def _shot_pulse_rows(
    ctx: _Context, *, shot: Shot, located: LocatedShot, rows, acoustic
) -> list[ShotPulse]:
    result = []
    for uuid in located.pulse_uuids:
        pulse = acoustic[int(uuid)]
        dx, dy = pulse.x - located.x, pulse.y - located.y
        distance = math.hypot(dx, dy)
        # Travel time in moving air: the wind component along the path adds to c.
        along = (ctx.wind_xy[0] * dx + ctx.wind_xy[1] * dy) / distance if distance > 0 else 0.0
        predicted = located.t_emit + distance / (ctx.c + along)
        result.append(
            ShotPulse(
                shot=shot,
                pulse_id=int(uuid),
                sensor_id=rows[int(uuid)].sensor_id,
                distance_m=distance,
                residual_ms=(pulse.t - predicted) * 1000.0,
            )
        )
    return result


def _refine_shot(ctx: _Context, *, shot_id: int, located: LocatedShot, rows, acoustic) -> bool:
    """Update a stored shot from a new fix of (mostly) the same pulses; True if changed."""
    shot = Shot.objects.get(pk=shot_id)
    ids = {int(u) for u in located.pulse_uuids}
    stored = set(ShotPulse.objects.filter(shot=shot).values_list("pulse_id", flat=True))
    moved = math.hypot(shot.x_m - located.x, shot.y_m - located.y)
    if ids == stored and moved < 0.01 and abs(shot.emitted_epoch_s - located.t_emit) < 1e-6:
        return False
    for name, value in _shot_fields(ctx, located, acoustic).items():
        setattr(shot, name, value)
    shot.save()
    # Pulses the new fix takes from other shots move here (a pulse is in one shot only).
    others = ShotPulse.objects.filter(pulse_id__in=ids).exclude(shot=shot)
    ctx.touched.update(others.values_list("shot__incident_id", flat=True))
    others.delete()
    ShotPulse.objects.filter(shot=shot).delete()
    ShotPulse.objects.bulk_create(
        _shot_pulse_rows(ctx, shot=shot, located=located, rows=rows, acoustic=acoustic)
    )
    ctx.touched.add(shot.incident_id)
    return True


def _create_shot(ctx: _Context, *, incident: Incident, located: LocatedShot, rows, acoustic):
    shot = Shot.objects.create(incident=incident, **_shot_fields(ctx, located, acoustic))
    ids = [int(u) for u in located.pulse_uuids]
    # Pulses still held by a stored shot that this run did not find again move here.
    others = ShotPulse.objects.filter(pulse_id__in=ids)
    ctx.touched.update(others.values_list("shot__incident_id", flat=True))
    others.delete()
    ShotPulse.objects.bulk_create(
        _shot_pulse_rows(ctx, shot=shot, located=located, rows=rows, acoustic=acoustic)
    )
    ctx.touched.add(incident.pk)
    return shot


@dataclass
class _Group:
    first_t: float
    last_t: float
    anchor_xy: tuple[float, float]
    incident: Incident | None
    shots: list[LocatedShot] = field(default_factory=list)

    def accepts(self, shot: LocatedShot, *, gap: float, radius: float) -> bool:
        in_time = self.first_t - gap <= shot.t_emit <= self.last_t + gap
        near = math.hypot(shot.x - self.anchor_xy[0], shot.y - self.anchor_xy[1]) <= radius
        return in_time and near


def _add_new_shots(ctx: _Context, *, shots: list[LocatedShot], rows, acoustic) -> None:
    gap = float(incident_setting("INCIDENT_MAX_GAP_S"))
    radius = float(incident_setting("INCIDENT_RADIUS_M"))
    shots = sorted(shots, key=lambda s: s.t_emit)
    t_min, t_max = shots[0].t_emit, shots[-1].t_emit
    groups: list[_Group] = []
    # A closed incident takes no more shots: one near it starts a new incident.
    nearby = Incident.objects.filter(
        coverage_area=ctx.area,
        closed_at__isnull=True,
        first_shot_at__lte=_utc(t_max + gap),
        last_shot_at__gte=_utc(t_min - gap),
    ).order_by("first_shot_at", "id")
    for incident in nearby:
        first = incident.shots.order_by("emitted_epoch_s", "id").first()
        if first is None:
            continue
        xyz = ctx.to_local(first.latitude, first.longitude, 0.0)
        groups.append(
            _Group(
                first_t=incident.first_shot_at.timestamp(),
                last_t=incident.last_shot_at.timestamp(),
                anchor_xy=(float(xyz[0]), float(xyz[1])),
                incident=incident,
            )
        )
    for shot in shots:
        home = next((g for g in groups if g.accepts(shot, gap=gap, radius=radius)), None)
        if home is None:
            home = _Group(shot.t_emit, shot.t_emit, (shot.x, shot.y), None)
            groups.append(home)
        home.shots.append(shot)
        home.first_t = min(home.first_t, shot.t_emit)
        home.last_t = max(home.last_t, shot.t_emit)
    for group in groups:
        if not group.shots:
            continue
        incident = group.incident
        if incident is None:
            incident = _create_incident(ctx, group=group, acoustic=acoustic)
        for shot in group.shots:
            _create_shot(ctx, incident=incident, located=shot, rows=rows, acoustic=acoustic)


def _create_incident(ctx: _Context, *, group: _Group, acoustic) -> Incident:
    """A new incident with provisional summary fields (``_refresh_incident`` sets them)."""
    first = group.shots[0]
    fields = _shot_fields(ctx, first, acoustic)
    incident = Incident.objects.create(
        agency=ctx.area.agency,
        coverage_area=ctx.area,
        number=services.incident_number_next(agency=ctx.area.agency),
        status=IncidentStatus.FILTERED,
        first_shot_at=_utc(group.first_t),
        last_shot_at=_utc(group.last_t),
        detected_at=ctx.now,
        located_at=ctx.now,
        latitude=fields["latitude"],
        longitude=fields["longitude"],
        ellipse_major_m=fields["ellipse_major_m"],
        ellipse_minor_m=fields["ellipse_minor_m"],
        ellipse_azimuth_deg=fields["ellipse_azimuth_deg"],
        origin_latitude=ctx.frame.origin_lat_deg,
        origin_longitude=ctx.frame.origin_lon_deg,
    )
    ctx.created.add(incident.pk)
    ctx.report.incidents_created.append(incident.pk)
    return incident


# --- Summary, place, class and route of an incident -----------------------------------------


def _stored_located(ctx: _Context, shot: Shot, members: list[ShotPulse]) -> LocatedShot:
    xyz = ctx.to_local(shot.latitude, shot.longitude, 0.0)
    return LocatedShot(
        t_emit=shot.emitted_epoch_s,
        x=float(xyz[0]),
        y=float(xyz[1]),
        z=shot.z_m,
        pulse_uuids=tuple(str(m.pulse_id) for m in members),
        sensor_ids=tuple(str(m.sensor_id) for m in members),
        residual_rms_s=shot.residual_rms_ms / 1000.0,
        cov_xy=((shot.cov_xx, shot.cov_xy), (shot.cov_xy, shot.cov_yy)),
        ellipse95_major_m=shot.ellipse_major_m,
        ellipse95_minor_m=shot.ellipse_minor_m,
        ellipse95_azimuth_deg=shot.ellipse_azimuth_deg,
        outside_hull=shot.outside_hull,
        confident=shot.confident,
    )


def _refresh_incident(ctx: _Context, *, incident_id: int, created: bool) -> None:
    incident = Incident.objects.select_related("agency").get(pk=incident_id)
    # Shots whose every pulse moved to other shots are gone.
    incident.shots.filter(shot_pulses__isnull=True).delete()
    shots = list(incident.shots.order_by("emitted_epoch_s", "id"))
    if not shots:  # every pulse moved to other shots; keep the record, nothing to redo
        return
    members: dict[int, list[ShotPulse]] = {s.pk: [] for s in shots}
    shot_pulses = list(
        ShotPulse.objects.filter(shot__incident=incident).select_related("pulse").order_by("id")
    )
    for sp in shot_pulses:
        members[sp.shot_id].append(sp)
    located = [_stored_located(ctx, s, members[s.pk]) for s in shots]
    summary = bundle(
        located,
        max_gap_s=1e12,
        radius_m=1e12,
        same_place_m=float(incident_setting("INCIDENT_SAME_PLACE_M")),
    )[0]
    owner = {
        id(shot): index for shot, index in zip(summary.shots, summary.shooter_of_shot, strict=True)
    }
    for shot, loc in zip(shots, located, strict=True):
        shooter = owner[id(loc)]
        if shot.shooter != shooter:
            shot.shooter = shooter
            shot.save(update_fields=["shooter", "updated_at"])
    main = [s for s in shots if s.shooter == 0] or shots
    best = max(main, key=lambda s: (s.n_sensors, -s.ellipse_major_m, -s.pk))

    previous_status = incident.status
    moved = (best.latitude, best.longitude) != (incident.latitude, incident.longitude)
    incident.first_shot_at = shots[0].emitted_at
    incident.last_shot_at = max(s.emitted_at for s in shots)
    incident.rounds = summary.n_rounds
    incident.cadence_rpm = summary.cadence_rpm
    incident.fully_automatic = summary.automatic
    incident.n_shooters = summary.n_shooters
    incident.multiple_shooters = summary.multiple_shooters
    incident.n_sensors = len({sp.sensor_id for sp in shot_pulses})
    # After a human decision the machine no longer moves the incident (issue 5 may have).
    machine_owned = incident.status in (IncidentStatus.FILTERED, IncidentStatus.PENDING_REVIEW)
    if machine_owned and (moved or created):
        incident.latitude, incident.longitude = best.latitude, best.longitude
        incident.ellipse_major_m = best.ellipse_major_m
        incident.ellipse_minor_m = best.ellipse_minor_m
        incident.ellipse_azimuth_deg = best.ellipse_azimuth_deg
        incident.located_at = ctx.now
        services.incident_place(incident=incident)

    pulses = {}
    for sp in shot_pulses:
        xyz = ctx.to_local(sp.pulse.latitude, sp.pulse.longitude, sp.pulse.elevation_m)
        pulses[str(sp.pulse_id)] = Pulse(
            pulse_uuid=str(sp.pulse_id),
            sensor_id=str(sp.sensor_id),
            t=sp.pulse.arrival_epoch_s,
            x=float(xyz[0]),
            y=float(xyz[1]),
            z=float(xyz[2]),
            power_db_spl=sp.pulse.power_db_spl,
            snr_db=sp.pulse.snr_db,
            features=sp.pulse.features or {},
        )
    try:
        result = classification.classify_incident(
            incident=summary, pulses=pulses, weather=ctx.weather
        )
    except classification.IncidentUnclassifiable as error:
        logger.warning("incident %s cannot be classified: %s", incident.pk, error)
        incident.machine_class = ""
        incident.class_probabilities = {}
        incident.model_version = ""
        explosive = False
    else:
        incident.machine_class = result.machine_class
        incident.class_probabilities = result.probabilities
        incident.model_version = result.model_version
        explosive = result.explosive_like

    # Explosive-like incidents go to review, unless the area is in surge mode and the
    # machine's gunfire probability is below the area's raised threshold.
    from apps.review.selectors import routes_to_review

    to_review = routes_to_review(
        coverage_area_id=incident.coverage_area_id,
        probabilities=incident.class_probabilities,
        explosive_like=explosive,
    )
    if created:
        incident.status = IncidentStatus.PENDING_REVIEW if to_review else IncidentStatus.FILTERED
    elif previous_status == IncidentStatus.FILTERED and to_review:
        incident.status = IncidentStatus.PENDING_REVIEW
    # A machine never takes an incident out of review: a human decides it (issue 5).
    if not created:
        incident.revision += 1
    incident.save()
    if created or incident.status != previous_status:
        likeliest = sorted(incident.class_probabilities.items(), key=lambda kv: -kv[1])[:2]
        logger.info(
            "incident %s %s %s: %s from %d sensor(s) (%s)",
            incident.pk,
            "created" if created else "now",
            incident.status,
            incident.machine_class or "unclassified",
            incident.n_sensors,
            ", ".join(f"{name} {p:.2f}" for name, p in likeliest),
        )

    if incident.status == IncidentStatus.PENDING_REVIEW:
        services.audio_requests_sync(incident=incident, c=ctx.c, now=ctx.now)

    if created:
        events.incident_changed(
            incident.pk,
            "entered_review" if incident.status == IncidentStatus.PENDING_REVIEW else "filtered",
        )
    else:
        ctx.report.incidents_refined.append(incident.pk)
        entered = (
            previous_status != IncidentStatus.PENDING_REVIEW
            and incident.status == IncidentStatus.PENDING_REVIEW
        )
        events.incident_changed(incident.pk, "entered_review" if entered else "refined")
