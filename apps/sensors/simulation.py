"""The city simulator's engine (no Django): virtual sensors driven by the agent's own code.

Every virtual sensor is a real ``SensorAgent`` with its own key, outbox and ring buffer
in the simulator's data directory. Scenarios from the acoustic generator are rendered
for the virtual sensors' positions; each sensor's pulses enter its agent's outbox and
leave through the agent's signed, batched, store-and-forward sending; the rendered
audio around each event goes into the sensor's ring buffer, from which the agent
answers the server's audio requests (and only those) exactly as a field sensor would.
Chicago replays go one step further: the real recordings pass through the agent's
own pulse detector.

Times: a generated event is placed at the current time. At ``speed`` 1 its pulses are
reported as they "happen" (real time); faster, the whole event is placed just before
now and reported at once, and the pauses between events are divided by ``speed``.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from apps.acoustics.geometry import LocalFrame
from apps.acoustics.wavfiles import AudioFileError, read_sensor_audio
from apps.geo.polygons import bounding_box, geometry_contains
from apps.sensor_agent.agent import SendResult, SensorAgent
from apps.sensor_agent.client import utc_iso
from apps.sensor_agent.config import config_from_dict

logger = logging.getLogger("simulator")

SENSOR_RATE_HZ = 12_000
GROUND_ELEVATION_M = 190.0  # the demo city's ground, about Peoria's river bluffs
VIRTUAL_FULL_SCALE_DB_SPL = 130.0  # virtual sensors' 16-bit full scale (no clipping)
AUDIO_BEFORE_S = 3.0  # rendered audio kept before the first emission of an event
AUDIO_AFTER_S = 5.0  # ... and after its last arrival (requests need 2 s / 4 s)
QUIET_GAP_S = 15.0  # silence between two simulated events (they never overlap)
# The mix of scenarios of a simulated night (kind -> weight).
SCENARIO_MIX = {
    "single_shot": 0.22,
    "semi_auto": 0.2,
    "automatic": 0.08,
    "two_shooters": 0.05,
    "fireworks": 0.08,
    "firecracker": 0.08,
    "mortar": 0.04,
    "backfire": 0.1,
    "construction": 0.15,
}


class SimulationError(RuntimeError):
    """The simulation cannot start or go on; the message says why."""


# --- the city's sensor grid ------------------------------------------------------------------


@dataclass(frozen=True)
class SensorSite:
    serial: str
    latitude: float
    longitude: float
    elevation_m: float
    xyz: tuple[float, float, float]  # east, north, up metres from the grid centre
    noise_db_spl: float


def city_grid(
    *,
    boundary: dict,
    prefix: str,
    count: int = 16,
    spacing_m: float = 400.0,
    centre: tuple[float, float] | None = None,
) -> tuple[LocalFrame, list[SensorSite]]:
    """About ``count`` sensors on a square grid (``spacing_m`` apart) inside the area.

    The grid is centred on ``centre`` (lat, lon) or the area's bounding box; positions
    are jittered by up to 15% of the spacing (rooftops are not on a grid) with a fixed
    seed, so the same city always gets the same sensors.
    """
    if not 4 <= count <= 400:
        raise SimulationError(f"the number of sensors must be 4 to 400, got {count}")
    if not 100 <= spacing_m <= 2000:
        raise SimulationError(f"the sensor spacing must be 100 to 2000 m, got {spacing_m}")
    lon_min, lat_min, lon_max, lat_max = bounding_box(boundary)
    lat0, lon0 = centre or ((lat_min + lat_max) / 2, (lon_min + lon_max) / 2)
    frame = LocalFrame(lat0, lon0, GROUND_ELEVATION_M)
    rng = np.random.default_rng(20260521)
    side = math.ceil(math.sqrt(count))
    offsets = (np.arange(side) - (side - 1) / 2) * spacing_m
    sites = []
    for row, north in enumerate(offsets[::-1]):
        for col, east in enumerate(offsets):
            jitter = rng.uniform(-0.15, 0.15, 2) * spacing_m
            height = float(rng.uniform(4.0, 15.0))
            noise = float(rng.uniform(42.0, 56.0))
            xyz = (float(east + jitter[0]), float(north + jitter[1]), height)
            lat, lon, h = frame.to_wgs84(np.array(xyz))
            if not geometry_contains(geometry=boundary, lon=float(lon), lat=float(lat)):
                continue
            sites.append(
                SensorSite(
                    serial=f"{prefix}-{row + 1:02d}{col + 1:02d}",
                    latitude=round(float(lat), 7),
                    longitude=round(float(lon), 7),
                    elevation_m=round(float(h), 2),
                    xyz=xyz,
                    noise_db_spl=noise,
                )
            )
            if len(sites) == count:
                break
        if len(sites) == count:
            break
    if len(sites) < 4:
        raise SimulationError(
            f"only {len(sites)} grid points fall inside the coverage area; at least 4 are "
            "needed (try a smaller --spacing)"
        )
    return frame, sites


# --- virtual sensors -------------------------------------------------------------------------


@dataclass
class VirtualSensor:
    site: SensorSite
    agent: SensorAgent
    last_pulse_at: float = 0.0


def make_agent(
    *,
    site: SensorSite,
    server_url: str,
    key_path: Path,
    server_key_path: Path,
    data_dir: Path,
    retention_hours: float,
    allow_insecure_http: bool = False,
    full_scale_db_spl: float | None = VIRTUAL_FULL_SCALE_DB_SPL,
) -> SensorAgent:
    """A real agent for a virtual sensor (its own outbox and ring buffer under data_dir),
    trusting the server key in ``server_key_path`` for audio requests."""
    config = config_from_dict(
        {
            "server_url": server_url,
            "allow_insecure_http": allow_insecure_http,
            "serial": site.serial,
            "private_key": str(key_path),
            "server_public_key": str(server_key_path),
            "data_dir": str(data_dir / site.serial),
            "buffer_retention_hours": retention_hours,
            "batch_max_pulses": 200,
            "batch_interval_s": 0.2,
            "heartbeat_interval_s": 60,
            "audio_poll_interval_s": 3,
            "purge_interval_s": 60,
            "request_timeout_s": 10,
            "backoff_initial_s": 0.5,
            "backoff_max_s": 30,
            "position": {
                "latitude": site.latitude,
                "longitude": site.longitude,
                "elevation_m": site.elevation_m,
                "error_m": 1.0,
            },
            "detection": (
                {"full_scale_db_spl": full_scale_db_spl} if full_scale_db_spl is not None else {}
            ),
        },
        base=data_dir,
    )
    return SensorAgent(config)


# --- rendering a generated scenario for the city's sensors ------------------------------


@dataclass
class SensorReport:
    """What one virtual sensor reports for one event: pulses (API shape) and its audio."""

    index: int
    pulses: list[dict]
    arrival_epochs: list[float]
    audio: np.ndarray | None = None  # int16
    audio_start: float = 0.0


@dataclass
class Event:
    kind: str
    seed: int
    reports: list[SensorReport]
    shots: list[dict]  # truth: t_emit, x, y, label per emission
    first_emit: float
    last_arrival: float
    labels: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.last_arrival - self.first_emit

    def sources(self) -> list[dict]:
        """Each source: its label, number of emissions and mean position (m E, m N)."""
        groups: dict[str, list[dict]] = {}
        for shot in self.shots:
            groups.setdefault(shot["source_id"], []).append(shot)
        return [
            {
                "label": shots[0]["label"],
                "emissions": len(shots),
                "x": float(np.mean([s["x"] for s in shots])),
                "y": float(np.mean([s["y"] for s in shots])),
            }
            for shots in groups.values()
        ]

    @property
    def n_pulses(self) -> int:
        return sum(len(r.pulses) for r in self.reports)

    @property
    def n_sensors(self) -> int:
        return sum(1 for r in self.reports if r.pulses)

    def shift(self, delta: float) -> None:
        """Move the whole event in time by ``delta`` seconds (pulses and audio)."""
        for report in self.reports:
            report.arrival_epochs = [t + delta for t in report.arrival_epochs]
            for pulse, t in zip(report.pulses, report.arrival_epochs, strict=True):
                pulse["arrival_time_utc"] = utc_iso(t)
            report.audio_start += delta
        for shot in self.shots:
            shot["t_emit"] += delta
        self.first_emit += delta
        self.last_arrival += delta


def render_event(
    *,
    kind: str,
    seed: int,
    sites: list[SensorSite],
    t0: float,
    weather=None,
    with_audio: bool = True,
) -> Event:
    """Simulate one scenario of ``kind`` around the grid centre, starting near ``t0``.

    Uses the acoustic generator's sources, propagation and sensor model with the city's
    sensor positions (instead of the generator's own synthetic array). ``weather`` (an
    ``apps.acoustics.types.Weather``) defaults to a random one.
    """
    from apps.acoustics import generator
    from apps.acoustics.generator.render import Conditions, Sensor
    from apps.acoustics.types import Weather

    if kind not in generator.SCENARIO_KINDS:
        raise SimulationError(
            f"unknown scenario {kind!r}; choose from {', '.join(generator.SCENARIO_KINDS)}"
        )
    rng = np.random.default_rng([seed, generator.SCENARIO_KINDS.index(kind), 7])
    drawn = Weather(
        temperature_c=float(rng.uniform(-5, 30)),
        wind_speed_ms=float(rng.uniform(0, 6)),
        wind_from_deg=float(rng.uniform(0, 360)),
    )
    weather = weather or drawn
    conditions = Conditions(
        weather=weather,
        humidity_percent=float(rng.uniform(30, 90)),
        pressure_kpa=float(rng.uniform(99, 103)),
    )
    sensors = [
        Sensor(sensor_id=site.serial, xyz=np.array(site.xyz), noise_db_spl=site.noise_db_spl)
        for site in sites
    ]
    emissions = generator.scenario_emissions(kind=kind, rng=rng, t0=t0)
    rendered = generator.render_emissions(
        emissions=emissions, sensors=sensors, conditions=conditions, rng=rng
    )
    index_of = {site.serial: i for i, site in enumerate(sites)}
    reports = [SensorReport(index=i, pulses=[], arrival_epochs=[]) for i in range(len(sites))]
    windows: dict[int, list] = {}
    for item in rendered:
        pulse = item.pulse
        features = pulse.features.get("features", pulse.features)
        i = index_of[pulse.sensor_id]
        reports[i].pulses.append(
            {
                # A fresh identity: a re-run with the same seed reports new pulses.
                "pulse_uuid": str(uuid.uuid4()),
                "arrival_time_utc": utc_iso(pulse.t),
                "power_db_spl": round(min(max(pulse.power_db_spl, 0.0), 200.0), 3),
                "signal_to_noise_db": round(min(max(pulse.snr_db, -60.0), 200.0), 3),
                "features": {k: float(v) for k, v in features.items() if math.isfinite(v)},
            }
        )
        reports[i].arrival_epochs.append(pulse.t)
        windows.setdefault(i, []).append(item)
    first_emit = min(e.t for e in emissions)
    last_arrival = max((r.pulse.t for r in rendered), default=max(e.t for e in emissions))
    if with_audio:
        start = first_emit - AUDIO_BEFORE_S
        end = last_arrival + AUDIO_AFTER_S
        noise_rng = np.random.default_rng([seed, 99])
        for i, items in windows.items():
            reports[i].audio_start = start
            reports[i].audio = _sensor_audio(
                items, start=start, end=end, noise_db_spl=sites[i].noise_db_spl, rng=noise_rng
            )
    shots = [
        {
            "t_emit": e.t,
            "x": float(e.xyz[0]),
            "y": float(e.xyz[1]),
            "label": e.label,
            "kind": e.kind,
            "source_id": e.source_id,
        }
        for e in emissions
    ]
    return Event(
        kind=kind,
        seed=seed,
        reports=reports,
        shots=shots,
        first_emit=first_emit,
        last_arrival=last_arrival,
        labels=sorted({e.label for e in emissions}),
    )


def _sensor_audio(items, *, start: float, end: float, noise_db_spl: float, rng) -> np.ndarray:
    """A continuous 12 kHz track: ambient noise with each rendered pulse window in place."""
    from apps.acoustics.generator.render import PRE_ONSET_S

    full_scale_pa = 20e-6 * 10 ** (VIRTUAL_FULL_SCALE_DB_SPL / 20)
    n = int(round((end - start) * SENSOR_RATE_HZ))
    noise_pa = 20e-6 * 10 ** (noise_db_spl / 20)
    track = rng.normal(0.0, noise_pa, n)
    n_pre = int(round(PRE_ONSET_S * SENSOR_RATE_HZ))
    for item in items:
        # The window starts n_pre samples before the arrival's whole sample.
        first = math.floor(item.arrival.t * SENSOR_RATE_HZ) - n_pre
        offset = first - int(round(start * SENSOR_RATE_HZ))
        wave = item.waveform
        lo, hi = max(offset, 0), min(offset + len(wave), n)
        if hi > lo:
            track[lo:hi] = wave[lo - offset : hi - offset]
    return np.clip(np.round(track / full_scale_pa * 32768.0), -32768, 32767).astype(np.int16)


# --- Chicago replay ----------------------------------------------------------------------------


@dataclass
class ReplayClip:
    serial: str
    xyz: tuple[float, float, float]  # relative to the centroid of its incident's sensors
    samples: np.ndarray
    sample_rate: int
    start: float
    full_scale_db_spl: float | None


def chicago_incidents(directory: Path) -> dict[str, list[ReplayClip]]:
    """The ShotSpotter WAVs (smj0) under ``directory``, grouped by folder."""
    groups: dict[str, list] = {}
    for path in sorted(directory.rglob("*.wav")):
        try:
            audio = read_sensor_audio(path)
        except AudioFileError as error:
            logger.warning("skipping %s: %s", path, error)
            continue
        if "latitude" not in audio.position:
            continue
        groups.setdefault(path.parent.name, []).append(audio)
    incidents = {}
    for name, audios in groups.items():
        lat0 = float(np.mean([a.position["latitude"] for a in audios]))
        lon0 = float(np.mean([a.position["longitude"] for a in audios]))
        h0 = float(np.mean([a.position["elevation"] for a in audios]))
        frame = LocalFrame(lat0, lon0, h0)
        clips = []
        for audio in audios:
            xyz = frame.to_local(
                lat_deg=audio.position["latitude"],
                lon_deg=audio.position["longitude"],
                height_m=audio.position["elevation"],
            )
            pcm = np.clip(np.round(audio.samples * 32768.0), -32768, 32767).astype(np.int16)
            clips.append(
                ReplayClip(
                    serial=audio.serial,
                    xyz=tuple(float(v) for v in xyz),
                    samples=pcm,
                    sample_rate=audio.sample_rate,
                    start=audio.start_time,
                    full_scale_db_spl=audio.full_scale_db_spl,
                )
            )
        incidents[name] = clips
    return incidents


def replay_sites(clips: list[ReplayClip], *, frame: LocalFrame, prefix: str) -> list[SensorSite]:
    """Place an incident's real sensors in the city, keeping their relative geometry."""
    sites = []
    for clip in clips:
        enu = np.array([clip.xyz[0], clip.xyz[1], 8.0 + clip.xyz[2]])
        lat, lon, h = frame.to_wgs84(enu)
        sites.append(
            SensorSite(
                serial=f"{prefix}-{clip.serial}"[:64],
                latitude=round(float(lat), 7),
                longitude=round(float(lon), 7),
                elevation_m=round(float(h), 2),
                xyz=tuple(float(v) for v in enu),
                noise_db_spl=50.0,
            )
        )
    return sites


# --- driving the agents ----------------------------------------------------------------------


@dataclass
class DeliveryCounts:
    """Pulses sent by the agents and what the server said of them."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0

    def add(self, result: SendResult) -> None:
        self.sent += result.sent
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.rejected += result.rejected


@dataclass
class Totals(DeliveryCounts):
    events: int = 0
    pulses_queued: int = 0
    audio_sent: int = 0
    audio_other: int = 0


@dataclass
class DeliveryTally(DeliveryCounts):
    """Pulse deliveries since the last summary line (see ``Simulator.summary_every_s``)."""

    batches: int = 0

    def add(self, result: SendResult) -> None:
        super().add(result)
        self.batches += 1

    def line(self, *, seconds: float) -> str:
        refused = f", {self.rejected} refused" if self.rejected else ""
        return (
            f"delivered {self.sent} pulse(s) in {self.batches} batch(es) in the last "
            f"{seconds:.0f} s: {self.accepted} accepted, {self.duplicates} already stored"
            f"{refused}"
        )


class Simulator:
    """Plays events on virtual sensors and keeps their agents ticking."""

    def __init__(
        self,
        sensors: list[VirtualSensor],
        *,
        speed: float = 1.0,
        gap_s: float = QUIET_GAP_S,
        out: Callable[[str], None] = logger.info,
        summary_every_s: float = 30.0,
        clock=time.time,
    ):
        self.sensors = sensors
        self.speed = speed
        self.gap_s = gap_s
        # Through logging by default: timestamped, flushed at once, so the simulator's
        # lines fall in time order among the server's on a shared console (make run).
        self.out = out
        self.clock = clock
        self.totals = Totals()
        # One summary line for the deliveries of ``summary_every_s`` instead of a line per
        # batch; failed deliveries are logged by the agent itself (warnings) at once.
        self.summary_every_s = summary_every_s
        self.tally = DeliveryTally()
        self.tally_since = clock()
        self.quiet_until = 0.0
        self._pending: list[tuple[float, VirtualSensor, dict, float]] = []
        self._audio: list[tuple[float, VirtualSensor, np.ndarray, float]] = []
        now = clock()
        for i, sensor in enumerate(sensors):  # stagger the agents' timers
            timers = sensor.agent.timers
            timers.next_poll = now + i * sensor.agent.config.audio_poll_interval_s / len(sensors)
            timers.next_heartbeat = now + 60 + i * 0.5

    # Events --------------------------------------------------------------------------------

    def play(self, event: Event, *, sensors: list[VirtualSensor] | None = None) -> bool:
        """Schedule an event (its pulses and audio); False if it cannot be placed yet.

        Events never overlap: each starts ``gap_s`` or more after the previous one's last
        arrival. In real time the event is moved to start then; faster, it is placed to
        have just ended, which is possible only once the quiet gap has passed.
        """
        sensors = sensors or self.sensors
        now = self.clock()
        realtime = self.speed <= 1.0
        if realtime:
            event.shift(max(now + 0.5, self.quiet_until) - event.first_emit)
        else:
            if now - 0.5 - event.duration_s < self.quiet_until:
                return False
            event.shift(now - 0.5 - event.last_arrival)  # it has just happened
        self.quiet_until = event.last_arrival + self.gap_s
        self.totals.events += 1
        for report in event.reports:
            sensor = sensors[report.index]
            for pulse, t in zip(report.pulses, report.arrival_epochs, strict=True):
                # A sensor reports a pulse once the 250 ms after it are analysed.
                due = t + 0.3 if realtime else now
                self._pending.append((due, sensor, pulse, t))
            if report.audio is not None:
                end = report.audio_start + len(report.audio) / SENSOR_RATE_HZ
                self._audio.append(
                    (end if realtime else now, sensor, report.audio, report.audio_start)
                )
        self._pending.sort(key=lambda item: item[0])
        return True

    def play_recorded(self, sensor: VirtualSensor, clip: ReplayClip, *, start: float) -> int:
        """Feed a real recording through the agent's own detector (and ring buffer)."""
        step = 2 * clip.sample_rate
        found = 0
        for first in range(0, len(clip.samples), step):
            found += len(
                sensor.agent.ingest_audio(
                    clip.samples[first : first + step],
                    sample_rate=clip.sample_rate,
                    start=start + first / clip.sample_rate,
                    full_scale_db_spl=clip.full_scale_db_spl,
                )
            )
        found += len(sensor.agent.end_of_input())
        sensor.last_pulse_at = self.clock()
        self.totals.pulses_queued += found
        return found

    def cancel_future(self) -> None:
        """Forget pulses and audio of events that have not happened yet."""
        now = self.clock()
        self._pending = [item for item in self._pending if item[3] <= now]
        self._audio = [item for item in self._audio if item[0] <= now]

    def busy(self) -> bool:
        return bool(self._pending or self._audio) or any(len(s.agent.outbox) for s in self.sensors)

    # The loop body ---------------------------------------------------------------------------

    def step(self) -> None:
        """Release due pulses and audio, then let every agent do its due work."""
        now = self.clock()
        due: dict[int, tuple[VirtualSensor, list, list]] = {}
        while self._pending and self._pending[0][0] <= now:
            _, sensor, pulse, t = self._pending.pop(0)
            entry = due.setdefault(id(sensor), (sensor, [], []))
            entry[1].append(pulse)
            entry[2].append(t)
        for sensor, pulses, times in due.values():
            self.totals.pulses_queued += sensor.agent.queue_pulses(pulses, arrival_epochs=times)
            sensor.last_pulse_at = now
        keep = []
        for item in self._audio:
            at, sensor, audio, start = item
            if at <= now:
                sensor.agent.buffer.write(audio, sample_rate=SENSOR_RATE_HZ, start=start)
            else:
                keep.append(item)
        self._audio = keep
        for sensor in self.sensors:
            self._tick(sensor, now)
        if now - self.tally_since >= self.summary_every_s:
            self.report_deliveries(now=now)

    def report_deliveries(self, *, now: float | None = None) -> None:
        """Write the delivery summary line (if anything was sent) and start a new tally."""
        now = self.clock() if now is None else now
        if self.tally.batches:
            self.out(self.tally.line(seconds=now - self.tally_since))
        self.tally = DeliveryTally()
        self.tally_since = now

    def _tick(self, sensor: VirtualSensor, now: float) -> None:
        agent = sensor.agent
        timers = agent.timers
        if now >= timers.next_purge:
            agent.purge()
            timers.next_purge = now + agent.config.purge_interval_s
        if len(agent.outbox):
            result = agent.send_pending()
            self.totals.add(result)
            if result.sent:
                self.tally.add(result)
        if now >= timers.next_heartbeat:
            agent.heartbeat()
            timers.next_heartbeat = now + agent.config.heartbeat_interval_s
        # Only sensors that reported pulses lately can be asked for audio.
        if now >= timers.next_poll and now - sensor.last_pulse_at < 900:
            for answer in agent.poll_audio_requests():
                if answer.outcome == "sent":
                    self.totals.audio_sent += 1
                    self.out(
                        f"{agent.config.serial}: answered audio request {answer.request_id} "
                        f"({answer.clip_samples / SENSOR_RATE_HZ:.2f} s from "
                        f"{utc_iso(answer.clip_start)})"
                    )
                elif answer.outcome != "waiting":
                    self.totals.audio_other += 1
                    self.out(
                        f"{agent.config.serial}: audio request {answer.request_id}: "
                        f"{answer.outcome} {answer.detail}"
                    )
            timers.next_poll = now + agent.config.audio_poll_interval_s

    def drain(self, *, timeout_s: float, stop=None) -> bool:
        """Step until every pulse is delivered (or the timeout); True when all went out."""
        deadline = self.clock() + timeout_s
        while self.busy() and self.clock() < deadline:
            if stop is not None and stop.is_set():
                break
            self.step()
            time.sleep(0.05)
        return not self.busy()

    def close(self) -> None:
        self.report_deliveries()
        for sensor in self.sensors:
            sensor.agent.close()
