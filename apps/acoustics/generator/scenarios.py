"""Scenarios: a sensor array, sources of one kind (plus unrelated bangs), rendered pulses.

`generate_scenario(kind=..., seed=...)` is deterministic for a given seed and writes, via
`write_scenario`, the live-fire folder layout: `<name>.allpulses.json` (every reported
pulse, with its `features`), `<name>.weather.json` and `<name>.truth.json` (the sources,
their emissions, and which pulses are direct arrivals, shock arrivals or echoes).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from apps.acoustics.generator import sources as src
from apps.acoustics.generator.render import (
    Conditions,
    Reflector,
    RenderedPulse,
    Sensor,
    propagate,
    select_and_render,
)
from apps.acoustics.io import format_utc, write_allpulses
from apps.acoustics.sound import speed_of_sound
from apps.acoustics.types import Pulse, Weather

GENERATOR_VERSION = "2"
SCENARIO_KINDS = (
    "single_shot",
    "semi_auto",
    "automatic",
    "two_shooters",
    "fireworks",
    "firecracker",
    "mortar",
    "backfire",
    "construction",
    "other",
)
# The incident class each scenario kind is mainly about (the label of its main sources).
KIND_LABEL = {
    "single_shot": "gunfire",
    "semi_auto": "gunfire",
    "automatic": "gunfire",
    "two_shooters": "gunfire",
    "fireworks": "firework",
    "firecracker": "firework",
    "mortar": "firework",
    "backfire": "backfire",
    "construction": "construction",
    "other": "other",
}
_BASE_EPOCH = 1_780_000_000.0  # mid 2026; each scenario starts at a seeded offset from it


@dataclass
class Options:
    """Switches for the physics; `timing_only()` leaves Gaussian onset noise alone."""

    echoes: bool = True
    dense_echoes: bool = False
    nlos_probability: float = 0.25
    picking_error: bool = True
    round_to_ms: bool = True
    dropout_probability: float = 0.03
    distractors: bool = True
    wind: bool = True
    sensor_spacing_m: float = 380.0
    array_size: int = 7  # sensors per side of the jittered grid

    @classmethod
    def timing_only(cls) -> Options:
        return cls(
            echoes=False,
            nlos_probability=0.0,
            round_to_ms=False,
            dropout_probability=0.0,
            distractors=False,
            wind=False,
        )


@dataclass
class Source:
    source_id: str
    label: str
    kind: str
    details: dict = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    kind: str
    seed: int
    pulses: list[Pulse]
    weather: Weather
    truth: dict
    rendered: list[RenderedPulse] = field(default_factory=list, repr=False)


def _sensors(rng: np.random.Generator, options: Options) -> list[Sensor]:
    n, spacing = options.array_size, options.sensor_spacing_m
    offsets = (np.arange(n) - (n - 1) / 2) * spacing
    sensors = []
    for i, x in enumerate(offsets):
        for j, y in enumerate(offsets):
            jitter = rng.uniform(-0.25, 0.25, 2) * spacing
            sensors.append(
                Sensor(
                    sensor_id=f"SYN-{i:02d}{j:02d}",
                    xyz=np.array([x + jitter[0], y + jitter[1], rng.uniform(4.0, 15.0)]),
                    noise_db_spl=float(rng.uniform(45.0, 62.0)),
                    online=bool(rng.random() > 0.05 * (options.dropout_probability > 0)),
                )
            )
    return sensors


def _place(rng: np.random.Generator, *, half_width: float = 500.0, z: float = 1.5) -> np.ndarray:
    return np.array([*rng.uniform(-half_width, half_width, 2), z])


def _intervals(rng, *, n: int, mean_s: float, cv: float) -> np.ndarray:
    """Gaps between n events: mean and coefficient of variation (gamma distributed)."""
    if n <= 1:
        return np.zeros(0)
    shape = 1.0 / max(cv, 1e-3) ** 2
    return rng.gamma(shape, mean_s / shape, n - 1)


def _times(t0: float, gaps: np.ndarray) -> list[float]:
    return [t0, *(t0 + np.cumsum(gaps)).tolist()]


class _Builder:
    def __init__(self, rng: np.random.Generator, t0: float):
        self.rng = rng
        self.t0 = t0
        self.sources: list[Source] = []
        self.emissions: list[src.Emission] = []

    def new_source(self, label: str, kind: str, **details) -> Source:
        source = Source(f"src{len(self.sources) + 1}", label, kind, details)
        self.sources.append(source)
        return source

    def emit(self, source: Source, *, kind: str, t: float, xyz, wave, dominant_hz, **extra):
        shot_id = (
            f"{source.source_id}-{sum(e.source_id == source.source_id for e in self.emissions) + 1}"
        )
        self.emissions.append(
            src.Emission(
                source_id=source.source_id,
                kind=kind,
                label=source.label,
                t=t,
                xyz=np.asarray(xyz, dtype=float),
                waveform=wave,
                shot_id=shot_id,
                dominant_hz=dominant_hz,
                **extra,
            )
        )

    # --- gunfire -------------------------------------------------------------------------
    def gunfire(self, *, mode: str, xyz=None, t: float | None = None) -> None:
        rng = self.rng
        firearm = "rifle" if rng.random() < 0.3 else "handgun"
        if mode == "single":
            n, rpm, cv = 1, 0.0, 0.0
        elif mode == "semi":
            n, rpm, cv = int(rng.integers(2, 11)), rng.uniform(200, 400), rng.uniform(0.08, 0.25)
        else:
            n, rpm, cv = int(rng.integers(3, 31)), rng.uniform(450, 950), rng.uniform(0.01, 0.04)
        source = self.new_source(
            "gunfire", f"gunfire_{mode}", firearm=firearm, rounds=n, rpm=round(rpm, 1)
        )
        xyz = _place(rng) if xyz is None else xyz
        facing = float(rng.uniform(0, 360))
        wave, dominant = src.muzzle_blast(rng, firearm=firearm)
        bullet = None
        if firearm == "rifle":
            az = math.radians(facing)
            elev = math.radians(rng.uniform(0, 3))
            bullet = src.Bullet(
                direction=np.array(
                    [math.sin(az) * math.cos(elev), math.cos(az) * math.cos(elev), math.sin(elev)]
                ),
                speed_ms=float(rng.uniform(750, 950)),
                supersonic_range_m=float(rng.uniform(300, 700)),
                peak_pa_at_1m=src.pa_from_db_spl(rng.uniform(150, 156)),
                duration_s_at_1m=float(rng.uniform(1.2e-4, 2.0e-4)),
            )
        times = _times(
            self.t0 + rng.uniform(0, 2) if t is None else t,
            _intervals(rng, n=n, mean_s=60.0 / max(rpm, 1e-6), cv=cv),
        )
        front_back = float(rng.uniform(4, 10))
        for t_shot in times:
            # Same gun, same load: the blast repeats with a little round-to-round spread.
            scale = 10 ** (rng.normal(0, 0.5) / 20)
            self.emit(
                source,
                kind="muzzle_blast",
                t=t_shot,
                xyz=xyz,
                wave=wave * scale,
                dominant_hz=dominant,
                facing_deg=facing + rng.normal(0, 5),
                front_back_db=front_back,
                bullet=bullet,
            )

    # --- fireworks -----------------------------------------------------------------------
    def firecracker_string(self) -> None:
        rng = self.rng
        n = int(rng.integers(15, 81))
        source = self.new_source("firework", "firecracker_string", bangs=n)
        centre = _place(rng, z=0.3)
        radius = rng.uniform(0.5, 3.0)
        for t in _times(
            self.t0 + rng.uniform(0, 2), rng.exponential(rng.uniform(0.025, 0.08), n - 1)
        ):
            wave, dominant = src.firecracker(rng, large=False)
            offset = np.array([*rng.normal(0, radius, 2), 0.0])
            self.emit(
                source,
                kind="firecracker",
                t=t,
                xyz=centre + offset,
                wave=wave,
                dominant_hz=dominant,
            )

    def large_firecrackers(self) -> None:
        rng = self.rng
        n = int(rng.integers(1, 5))
        source = self.new_source("firework", "large_firecracker", bangs=n)
        centre = _place(rng, z=0.3)
        for t in _times(self.t0 + rng.uniform(0, 2), rng.uniform(0.5, 8.0, n - 1)):
            wave, dominant = src.firecracker(rng, large=True)
            offset = np.array([*rng.normal(0, 8.0, 2), 0.0])
            self.emit(
                source,
                kind="large_firecracker",
                t=t,
                xyz=centre + offset,
                wave=wave,
                dominant_hz=dominant,
            )

    def mortar(self) -> None:
        rng = self.rng
        n = int(rng.integers(1, 6))
        source = self.new_source("firework", "mortar", shells=n)
        tube = _place(rng, z=0.5)
        t = self.t0 + rng.uniform(0, 2)
        for _ in range(n):
            wave, dominant = src.mortar_launch(rng)
            self.emit(source, kind="mortar_launch", t=t, xyz=tube, wave=wave, dominant_hz=dominant)
            burst_xyz = tube + np.array([*rng.normal(0, 12.0, 2), rng.uniform(80, 220)])
            t_burst = t + rng.uniform(2.0, 4.5)
            wave, dominant = src.mortar_burst(rng)
            self.emit(
                source,
                kind="mortar_burst",
                t=t_burst,
                xyz=burst_xyz,
                wave=wave,
                dominant_hz=dominant,
            )
            if rng.random() < 0.5:
                gaps = rng.exponential(0.06, int(rng.integers(8, 30)))
                for t_crackle in _times(t_burst + 0.2, gaps):
                    wave, dominant = src.firecracker(rng, large=False)
                    where = burst_xyz + rng.normal(0, 12.0, 3)
                    self.emit(
                        source,
                        kind="crackle",
                        t=t_crackle,
                        xyz=where,
                        wave=wave * 0.5,
                        dominant_hz=dominant,
                    )
            t += rng.uniform(3.0, 12.0)

    # --- other sources -------------------------------------------------------------------
    def backfire(self) -> None:
        rng = self.rng
        n = int(rng.integers(1, 5))
        source = self.new_source("backfire", "backfire", bangs=n)
        start = _place(rng, z=0.4)
        heading = rng.uniform(0, 2 * math.pi)
        velocity = rng.uniform(4, 15) * np.array([math.sin(heading), math.cos(heading), 0.0])
        t_start = self.t0 + rng.uniform(0, 2)
        for t in _times(t_start, rng.uniform(0.08, 2.0, n - 1)):
            wave, dominant = src.backfire(rng)
            self.emit(
                source,
                kind="backfire",
                t=t,
                xyz=start + velocity * (t - t_start),
                wave=wave,
                dominant_hz=dominant,
            )

    def construction(self) -> None:
        rng = self.rng
        tool = str(rng.choice(["jackhammer", "pile_driver", "nail_gun"]))
        source = self.new_source("construction", tool)
        t_start = self.t0 + rng.uniform(0, 2)
        if tool == "jackhammer":
            rate = rng.uniform(10, 25)
            n = int(rate * rng.uniform(1.0, 3.0))
            times = _times(t_start, _intervals(rng, n=n, mean_s=1 / rate, cv=0.03))
            level, xyz = rng.uniform(112, 124), _place(rng, z=0.5)
            for t in times:
                wave, dominant = src.jackhammer_blow(rng, level_db=level + rng.normal(0, 1))
                self.emit(source, kind=tool, t=t, xyz=xyz, wave=wave, dominant_hz=dominant)
        elif tool == "pile_driver":
            rate = rng.uniform(0.6, 1.5)
            n = int(rng.integers(4, 13))
            level, xyz = rng.uniform(136, 150), _place(rng, z=rng.uniform(3, 10))
            for t in _times(t_start, _intervals(rng, n=n, mean_s=1 / rate, cv=0.05)):
                wave, dominant = src.pile_driver_blow(rng, level_db=level + rng.normal(0, 1))
                self.emit(source, kind=tool, t=t, xyz=xyz, wave=wave, dominant_hz=dominant)
        else:
            n = int(rng.integers(3, 11))
            xyz = _place(rng, z=rng.uniform(0.5, 6))
            for t in _times(t_start, rng.uniform(0.3, 3.0, n - 1)):
                wave, dominant = src.nail_gun_shot(rng)
                where = xyz + np.array([*rng.normal(0, 1.0, 2), 0.0])
                self.emit(source, kind=tool, t=t, xyz=where, wave=wave, dominant_hz=dominant)
        source.details["blows"] = sum(e.source_id == source.source_id for e in self.emissions)

    def other(self, *, half_width: float = 500.0, span_s: float = 4.0) -> None:
        rng = self.rng
        n = int(rng.integers(1, 3))
        source = self.new_source("other", "other")
        xyz = _place(rng, half_width=half_width, z=rng.uniform(0.5, 3))
        for t in sorted(self.t0 + rng.uniform(0, span_s, n)):
            wave, dominant, kind = src.other_bang(rng)
            self.emit(source, kind=kind, t=t, xyz=xyz, wave=wave, dominant_hz=dominant)


def _build_sources(builder: _Builder, kind: str) -> None:
    rng = builder.rng
    if kind == "single_shot":
        builder.gunfire(mode="single")
    elif kind == "semi_auto":
        builder.gunfire(mode="semi")
    elif kind == "automatic":
        builder.gunfire(mode="auto")
    elif kind == "two_shooters":
        first = _place(rng)
        bearing = rng.uniform(0, 2 * math.pi)
        second = first + rng.uniform(30, 150) * np.array([math.cos(bearing), math.sin(bearing), 0])
        t = builder.t0 + 1.0
        builder.gunfire(mode=str(rng.choice(["semi", "auto"])), xyz=first, t=t)
        builder.gunfire(
            mode=str(rng.choice(["semi", "auto"])), xyz=second, t=t + rng.uniform(0, 0.8)
        )
    elif kind == "fireworks":
        for _ in range(int(rng.integers(2, 5))):
            builder.t0 += rng.uniform(0, 10)
            [builder.firecracker_string, builder.large_firecrackers, builder.mortar][
                int(rng.integers(0, 3))
            ]()
    elif kind == "firecracker":
        (builder.firecracker_string if rng.random() < 0.5 else builder.large_firecrackers)()
    elif kind == "mortar":
        builder.mortar()
    elif kind == "backfire":
        builder.backfire()
    elif kind == "construction":
        builder.construction()
    elif kind == "other":
        builder.other()
    else:
        raise ValueError(f"unknown scenario kind {kind!r}; choose from {', '.join(SCENARIO_KINDS)}")


def _reflectors(rng, *, emissions, sensors, options: Options) -> list[Reflector]:
    """Facades near each source position and near each sensor (image-source echoes)."""
    density = 2 if options.dense_echoes else 1
    reflectors = []
    # One cluster of facades per 100 m cell with emissions (a string of firecrackers
    # jumping about by a few metres still echoes off the same buildings).
    sites = sorted({tuple(np.round(e.xyz[:2], -2)) for e in emissions})
    for site in sites:
        for _ in range(int(rng.integers(1, 4)) * density):
            bearing, distance = rng.uniform(0, 2 * math.pi), rng.uniform(15, 80)
            where = np.array(
                [
                    site[0] + distance * math.cos(bearing),
                    site[1] + distance * math.sin(bearing),
                    rng.uniform(3, 12),
                ]
            )
            reflectors.append(Reflector(where, float(rng.uniform(8, 18))))
    for index, sensor in enumerate(sensors):
        for _ in range(int(rng.integers(0, 2)) * density):
            bearing, distance = rng.uniform(0, 2 * math.pi), rng.uniform(8, 40)
            where = sensor.xyz + np.array(
                [distance * math.cos(bearing), distance * math.sin(bearing), 0.0]
            )
            reflectors.append(Reflector(where, float(rng.uniform(8, 16)), index))
    return reflectors


def scenario_emissions(*, kind: str, rng: np.random.Generator, t0: float) -> list[src.Emission]:
    """The sources of one scenario of ``kind`` from ``t0`` on, as emissions (no distractors).

    For callers with their own sensor array (the city simulator); ``rng`` is advanced.
    """
    builder = _Builder(rng, t0)
    _build_sources(builder, kind)
    return builder.emissions


def render_emissions(
    *,
    emissions: list[src.Emission],
    sensors: list[Sensor],
    conditions: Conditions,
    rng: np.random.Generator,
    options: Options | None = None,
) -> list[RenderedPulse]:
    """What ``sensors`` report of ``emissions``: echoes off nearby facades, propagation, pulses."""
    options = options or Options()
    reflectors = _reflectors(rng, emissions=emissions, sensors=sensors, options=options)
    arrivals = propagate(
        emissions=emissions,
        sensors=sensors,
        reflectors=reflectors,
        conditions=conditions,
        rng=rng,
    )
    return select_and_render(
        arrivals=arrivals, emissions=emissions, sensors=sensors, conditions=conditions, rng=rng
    )


def generate_scenario(
    *, kind: str, seed: int, name: str | None = None, options: Options | None = None
) -> Scenario:
    """Simulate one scenario of the given kind; the same seed gives the same scenario."""
    if kind not in SCENARIO_KINDS:
        raise ValueError(f"unknown scenario kind {kind!r}; choose from {', '.join(SCENARIO_KINDS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    options = options or Options()
    rng = np.random.default_rng([seed, SCENARIO_KINDS.index(kind)])
    name = name or f"{kind}_{seed:06d}"
    t0 = _BASE_EPOCH + float(rng.uniform(0, 30 * 86400))
    weather = Weather(
        temperature_c=float(rng.uniform(-10, 35)),
        wind_speed_ms=float(rng.uniform(0, 8)) if options.wind else 0.0,
        wind_from_deg=float(rng.uniform(0, 360)),
    )
    conditions = Conditions(
        weather=weather,
        humidity_percent=float(rng.uniform(20, 95)),
        pressure_kpa=float(rng.uniform(98, 103)),
        nlos_probability=options.nlos_probability,
        picking_error=options.picking_error,
        round_to_ms=options.round_to_ms,
        dropout_probability=options.dropout_probability,
        echoes=options.echoes,
    )
    sensors = _sensors(rng, options)
    builder = _Builder(rng, t0)
    _build_sources(builder, kind)
    if options.distractors and kind != "other" and rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            builder.other(half_width=900.0, span_s=6.0)
    rendered = render_emissions(
        emissions=builder.emissions,
        sensors=sensors,
        conditions=conditions,
        rng=rng,
        options=options,
    )
    truth = _truth(name, kind, seed, builder, sensors, conditions, rendered)
    return Scenario(name, kind, seed, [r.pulse for r in rendered], weather, truth, rendered)


def _truth(name, kind, seed, builder, sensors, conditions, rendered) -> dict:
    shots = []
    by_shot: dict[str, dict] = {}
    for emission in builder.emissions:
        record = {
            "shot_id": emission.shot_id,
            "source_id": emission.source_id,
            "label": emission.label,
            "kind": emission.kind,
            "t_emit": emission.t,
            "t_emit_utc": format_utc(round(emission.t, 6)),
            "x": float(emission.xyz[0]),
            "y": float(emission.xyz[1]),
            "z": float(emission.xyz[2]),
            "direct_pulse_uuids": [],
            "shock_pulse_uuids": [],
            "echo_pulse_uuids": [],
        }
        shots.append(record)
        by_shot[emission.shot_id] = record
    pulses = {}
    for item in rendered:
        emission = builder.emissions[item.arrival.emission_index]
        path = item.arrival.path
        group = {"direct": "direct", "diffracted": "direct", "shock": "shock", "echo": "echo"}
        by_shot[emission.shot_id][f"{group[path]}_pulse_uuids"].append(item.pulse.pulse_uuid)
        pulses[item.pulse.pulse_uuid] = {
            "shot_id": emission.shot_id,
            "path": path,
            "true_arrival_t": item.true_onset_t,
            "true_arrival_utc": format_utc(round(item.true_onset_t, 6)),
        }
    weather = conditions.weather
    return {
        "name": name,
        "kind": kind,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "conditions": {
            **asdict(weather),
            "humidity_percent": conditions.humidity_percent,
            "pressure_kpa": conditions.pressure_kpa,
            "speed_of_sound_ms": speed_of_sound(weather.temperature_c),
            "picking_error": conditions.picking_error,
            "round_to_ms": conditions.round_to_ms,
            "nlos_probability": conditions.nlos_probability,
            "echoes": conditions.echoes,
        },
        "sensors": [
            {
                "serial_number": s.sensor_id,
                "x": float(s.xyz[0]),
                "y": float(s.xyz[1]),
                "z": float(s.xyz[2]),
                "noise_db_spl": s.noise_db_spl,
                "online": s.online,
            }
            for s in sensors
        ],
        "sources": [
            {
                "source_id": s.source_id,
                "label": s.label,
                "kind": s.kind,
                "details": s.details,
                "shot_ids": [e.shot_id for e in builder.emissions if e.source_id == s.source_id],
            }
            for s in builder.sources
        ],
        "shots": shots,
        "pulses": pulses,
    }


def write_scenario(scenario: Scenario, outdir: str | Path) -> Path:
    """Write the scenario as a live-fire style test folder OUTDIR/<name>/; returns it."""
    folder = Path(outdir) / scenario.name
    folder.mkdir(parents=True, exist_ok=True)
    write_allpulses(folder / f"{scenario.name}.allpulses.json", scenario.pulses)
    weather = {
        "fluid": "air",
        "temperature": scenario.weather.temperature_c,
        "speed": scenario.weather.wind_speed_ms,
        "direction": scenario.weather.wind_from_deg,
        "humidity_percent": scenario.truth["conditions"]["humidity_percent"],
        "source": "synthetic",
    }
    (folder / f"{scenario.name}.weather.json").write_text(json.dumps(weather, indent=4) + "\n")
    (folder / f"{scenario.name}.truth.json").write_text(json.dumps(scenario.truth, indent=1) + "\n")
    return folder


def read_truth(folder: str | Path) -> dict:
    """The truth record of a generated scenario folder (or truth file)."""
    path = Path(folder)
    if path.is_dir():
        matches = sorted(path.glob("*.truth.json"))
        if len(matches) != 1:
            raise ValueError(f"{path}: expected exactly one *.truth.json, found {len(matches)}")
        path = matches[0]
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read truth file ({error})") from None
    if not isinstance(truth, dict) or "shots" not in truth or "sources" not in truth:
        raise ValueError(f"{path}: not a scenario truth file (needs 'sources' and 'shots')")
    return truth
