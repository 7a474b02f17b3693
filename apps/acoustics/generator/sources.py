"""Source events of the scenario generator: what each kind of bang emits, at 1 m.

Levels are peak pressures at 1 m; durations and cadences follow published measurements
of firearms, fireworks, vehicle backfires and construction equipment (order of magnitude,
with wide ranges so that the classes overlap where they do in reality).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from apps.acoustics.generator.physics import damped_tone, friedlander, pa_from_db_spl

SOURCE_RATE_HZ = 96_000  # source waveforms are drawn finely, then band-limited to the sensor

# Incident classes the classifier predicts, and the source kinds that belong to each.
CLASSES = ("gunfire", "firework", "backfire", "construction", "other")
EXPLOSIVE_CLASSES = frozenset({"gunfire", "firework", "backfire"})


@dataclass
class Bullet:
    """Supersonic projectile: its shock cone reaches sensors downrange before the blast."""

    direction: np.ndarray  # unit vector (east, north, up)
    speed_ms: float
    supersonic_range_m: float
    peak_pa_at_1m: float  # N-wave peak at 1 m miss distance (falls as b^-3/4)
    duration_s_at_1m: float  # N-wave duration at 1 m miss distance (grows as b^1/4)


@dataclass
class Emission:
    """One acoustic event: a waveform at 1 m emitted at time t from a point."""

    source_id: str
    kind: str
    label: str
    t: float
    xyz: np.ndarray
    waveform: np.ndarray  # pressure at 1 m on axis, SOURCE_RATE_HZ
    shot_id: str
    facing_deg: float | None = None  # muzzle azimuth (degrees from north) for directivity
    front_back_db: float = 0.0
    bullet: Bullet | None = None
    dominant_hz: float = 1000.0
    extra: dict = field(default_factory=dict)

    @property
    def peak_pa(self) -> float:
        return float(np.max(np.abs(self.waveform)))


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _fade(wave: np.ndarray, *, max_s: float = 0.3) -> np.ndarray:
    """Truncate to max_s with a short cosine fade so spectra do not ring."""
    n = min(len(wave), int(max_s * SOURCE_RATE_HZ))
    wave = wave[:n].copy()
    taper = min(n // 4, int(0.01 * SOURCE_RATE_HZ))
    if taper > 1:
        wave[-taper:] *= 0.5 * (1 + np.cos(np.linspace(0, math.pi, taper)))
    return wave


def _mix(*waves: np.ndarray) -> np.ndarray:
    out = np.zeros(max(len(w) for w in waves))
    for w in waves:
        out[: len(w)] += w
    return out


def muzzle_blast(rng: np.random.Generator, *, firearm: str) -> tuple[np.ndarray, float]:
    """Friedlander muzzle blast; returns (waveform, dominant frequency)."""
    if firearm == "rifle":
        level, t_plus = _u(rng, 156, 168), _u(rng, 0.9e-3, 2.2e-3)
    else:
        level, t_plus = _u(rng, 150, 162), _u(rng, 0.6e-3, 1.5e-3)
    wave = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(level),
        positive_phase_s=t_plus,
        decay=_u(rng, 0.8, 1.6),
        length_s=12 * t_plus,
    )
    return _fade(wave), 0.35 / t_plus


def firecracker(rng: np.random.Generator, *, large: bool) -> tuple[np.ndarray, float]:
    """A small charge: shorter positive phase than a muzzle blast, usually quieter."""
    if large:
        level, t_plus = _u(rng, 146, 158), _u(rng, 0.3e-3, 0.8e-3)
    else:
        level, t_plus = _u(rng, 134, 150), _u(rng, 0.12e-3, 0.45e-3)
    wave = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(level),
        positive_phase_s=t_plus,
        decay=_u(rng, 1.0, 2.0),
        length_s=15 * t_plus,
    )
    return _fade(wave), 0.35 / t_plus


def mortar_launch(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Lift charge in a tube: a low thump with the tube's resonance."""
    t_plus = _u(rng, 3e-3, 8e-3)
    thump = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(_u(rng, 134, 146)),
        positive_phase_s=t_plus,
        decay=1.2,
        length_s=10 * t_plus,
    )
    ring = damped_tone(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=0.3 * float(thump[0]),
        frequency_hz=_u(rng, 80, 250),
        decay_s=_u(rng, 0.01, 0.03),
    )
    return _fade(_mix(thump, ring)), 0.35 / t_plus


def mortar_burst(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Aerial shell burst: a large charge, so a long positive phase and a loud blast."""
    t_plus = _u(rng, 2.5e-3, 9e-3)
    wave = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(_u(rng, 158, 172)),
        positive_phase_s=t_plus,
        decay=_u(rng, 0.8, 1.4),
        length_s=10 * t_plus,
    )
    return _fade(wave), 0.35 / t_plus


def backfire(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Unburnt fuel igniting in the exhaust: a slow blast plus the pipe's resonance."""
    t_plus = _u(rng, 1.5e-3, 6e-3)
    blast = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(_u(rng, 132, 148)),
        positive_phase_s=t_plus,
        decay=_u(rng, 0.8, 1.5),
        length_s=10 * t_plus,
    )
    ring = damped_tone(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=_u(rng, 0.3, 0.8) * float(blast[0]),
        frequency_hz=_u(rng, 50, 220),
        decay_s=_u(rng, 0.008, 0.04),
        phase=rng.uniform(0, 6.3),
    )
    return _fade(_mix(blast, ring)), 0.35 / t_plus


def jackhammer_blow(rng: np.random.Generator, *, level_db: float) -> tuple[np.ndarray, float]:
    """Chisel on concrete: metallic ringing at 1-3 kHz and a small thud."""
    tone_hz = _u(rng, 1000, 3000)
    ring = damped_tone(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(level_db),
        frequency_hz=tone_hz,
        decay_s=_u(rng, 0.003, 0.008),
    )
    thud = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=0.4 * pa_from_db_spl(level_db),
        positive_phase_s=_u(rng, 2e-3, 5e-3),
        length_s=0.03,
    )
    return _fade(_mix(ring, thud)), tone_hz


def pile_driver_blow(rng: np.random.Generator, *, level_db: float) -> tuple[np.ndarray, float]:
    """Hammer on a steel pile: heavy thud and a long ringing of the pile."""
    t_plus = _u(rng, 4e-3, 10e-3)
    thud = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(level_db),
        positive_phase_s=t_plus,
        length_s=10 * t_plus,
    )
    ring = damped_tone(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=_u(rng, 0.4, 0.9) * pa_from_db_spl(level_db),
        frequency_hz=_u(rng, 200, 700),
        decay_s=_u(rng, 0.03, 0.08),
        length_s=0.3,
    )
    return _fade(_mix(thud, ring)), 0.35 / t_plus


def nail_gun_shot(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Pneumatic nailer: short air blast and a high ring of the tool and nail."""
    t_plus = _u(rng, 0.3e-3, 0.9e-3)
    level = _u(rng, 122, 134)
    blast = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(level),
        positive_phase_s=t_plus,
        length_s=12 * t_plus,
    )
    ring = damped_tone(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=_u(rng, 0.5, 1.0) * pa_from_db_spl(level),
        frequency_hz=_u(rng, 2000, 4500),
        decay_s=_u(rng, 0.004, 0.015),
    )
    return _fade(_mix(blast, ring)), 0.35 / t_plus


def other_bang(rng: np.random.Generator) -> tuple[np.ndarray, float, str]:
    """Unrelated impulsive sounds: door slam, dropped metal, balloon pop."""
    kind = str(rng.choice(["door_slam", "dropped_metal", "balloon_pop"]))
    if kind == "door_slam":
        t_plus = _u(rng, 3e-3, 9e-3)
        level = _u(rng, 115, 132)
        thud = friedlander(
            sample_rate=SOURCE_RATE_HZ,
            peak_pa=pa_from_db_spl(level),
            positive_phase_s=t_plus,
            length_s=10 * t_plus,
        )
        ring = damped_tone(
            sample_rate=SOURCE_RATE_HZ,
            peak_pa=0.5 * pa_from_db_spl(level),
            frequency_hz=_u(rng, 90, 300),
            decay_s=_u(rng, 0.01, 0.04),
        )
        return _fade(_mix(thud, ring)), 0.35 / t_plus, kind
    if kind == "dropped_metal":
        tone = _u(rng, 300, 1500)
        level = _u(rng, 120, 138)
        rings = [
            damped_tone(
                sample_rate=SOURCE_RATE_HZ,
                peak_pa=pa_from_db_spl(level) * _u(rng, 0.3, 1.0),
                frequency_hz=tone * ratio,
                decay_s=_u(rng, 0.04, 0.15),
                length_s=0.3,
            )
            for ratio in (1.0, 2.76, 5.40)
        ]
        return _fade(_mix(*rings)), tone, kind
    t_plus = _u(rng, 0.08e-3, 0.3e-3)
    wave = friedlander(
        sample_rate=SOURCE_RATE_HZ,
        peak_pa=pa_from_db_spl(_u(rng, 128, 142)),
        positive_phase_s=t_plus,
        decay=1.5,
        length_s=15 * t_plus,
    )
    return _fade(wave), 0.35 / t_plus, kind
