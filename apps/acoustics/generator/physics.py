"""Acoustic building blocks of the scenario generator: source pulse shapes and propagation.

Pressures are in pascals; levels in dB re 20 µPa (SPL). Frequencies in Hz, distances in m.
"""

from __future__ import annotations

import math

import numpy as np

P_REF_PA = 20e-6
STANDARD_PRESSURE_KPA = 101.325
_T0_K = 293.15  # ISO 9613-1 reference air temperature
_T01_K = 273.16  # triple-point isotherm temperature


def db_spl(pressure_pa: float) -> float:
    """Level in dB SPL of a pressure amplitude (or RMS) in pascals."""
    return 20.0 * math.log10(max(abs(pressure_pa), 1e-30) / P_REF_PA)


def pa_from_db_spl(level_db: float) -> float:
    return P_REF_PA * 10.0 ** (level_db / 20.0)


def friedlander(
    *,
    sample_rate: float,
    peak_pa: float,
    positive_phase_s: float,
    decay: float = 1.0,
    length_s: float | None = None,
) -> np.ndarray:
    """Friedlander blast wave p(t) = P (1 - t/T+) exp(-b t/T+), t >= 0.

    The pressure is P at t = 0, crosses zero at T+ (the positive phase duration) and
    then a weaker, longer negative phase follows.
    """
    if positive_phase_s <= 0 or sample_rate <= 0:
        raise ValueError("positive phase duration and sample rate must be positive")
    length_s = length_s if length_s is not None else 10.0 * positive_phase_s
    t = np.arange(int(round(length_s * sample_rate))) / sample_rate
    x = t / positive_phase_s
    return peak_pa * (1.0 - x) * np.exp(-decay * x)


def n_wave(*, sample_rate: float, peak_pa: float, duration_s: float) -> np.ndarray:
    """Ballistic shock N-wave: jump to +P, linear fall to -P over the duration, jump to 0."""
    if duration_s <= 0:
        raise ValueError("N-wave duration must be positive")
    n = max(int(round(duration_s * sample_rate)), 2)
    return peak_pa * np.linspace(1.0, -1.0, n)


def damped_tone(
    *,
    sample_rate: float,
    peak_pa: float,
    frequency_hz: float,
    decay_s: float,
    length_s: float | None = None,
    phase: float = 0.0,
) -> np.ndarray:
    """Exponentially damped sinusoid: ringing of a struck or resonating structure."""
    length_s = length_s if length_s is not None else 6.0 * decay_s
    t = np.arange(int(round(length_s * sample_rate))) / sample_rate
    return peak_pa * np.exp(-t / decay_s) * np.sin(2 * math.pi * frequency_hz * t + phase)


def saturation_pressure_ratio(temperature_c: float) -> float:
    """psat / pr from ISO 9613-1 (eq. B.1/B.2)."""
    t_k = temperature_c + 273.15
    exponent = -6.8346 * (_T01_K / t_k) ** 1.261 + 4.6151
    return 10.0**exponent


def absorption_db_per_m(
    frequency_hz,
    *,
    temperature_c: float = 20.0,
    humidity_percent: float = 70.0,
    pressure_kpa: float = STANDARD_PRESSURE_KPA,
) -> np.ndarray:
    """Pure-tone atmospheric absorption coefficient α (dB/m), ISO 9613-1:1993 eq. (3)-(5)."""
    if not (-60.0 <= temperature_c <= 60.0):
        raise ValueError(f"temperature {temperature_c} °C is outside ISO 9613-1's range")
    if not (0.0 < humidity_percent <= 100.0):
        raise ValueError(f"relative humidity must be in (0, 100] %, got {humidity_percent}")
    if not (50.0 <= pressure_kpa <= 120.0):
        raise ValueError(f"atmospheric pressure {pressure_kpa} kPa is not plausible")
    f = np.asarray(frequency_hz, dtype=float)
    t_k = temperature_c + 273.15
    p_rel = pressure_kpa / STANDARD_PRESSURE_KPA
    t_rel = t_k / _T0_K
    # Molar concentration of water vapour, %.
    h = humidity_percent * saturation_pressure_ratio(temperature_c) / p_rel
    fr_o = p_rel * (24.0 + 4.04e4 * h * (0.02 + h) / (0.391 + h))
    fr_n = p_rel * t_rel**-0.5 * (9.0 + 280.0 * h * math.exp(-4.170 * (t_rel ** (-1 / 3) - 1.0)))
    classical = 1.84e-11 / p_rel * t_rel**0.5
    relaxation = t_rel**-2.5 * (
        0.01275 * math.exp(-2239.1 / t_k) / (fr_o + f**2 / fr_o)
        + 0.1068 * math.exp(-3352.0 / t_k) / (fr_n + f**2 / fr_n)
    )
    return 8.686 * f**2 * (classical + relaxation)


def spreading_gain(distance_m) -> np.ndarray:
    """Spherical spreading re 1 m: pressure falls as 1/r (-6 dB per doubling)."""
    r = np.asarray(distance_m, dtype=float)
    if np.any(r <= 0):
        raise ValueError("distances must be positive")
    return 1.0 / np.maximum(r, 1.0)


def diffraction_loss_db(frequency_hz, *, path_difference_m: float, speed_ms: float) -> np.ndarray:
    """Barrier attenuation after Maekawa: 10 log10(3 + 20 N), N = 2 δ f / c (capped at 25 dB).

    Higher frequencies bend less round a building edge, so the received pulse is duller.
    """
    f = np.asarray(frequency_hz, dtype=float)
    fresnel = 2.0 * path_difference_m * f / speed_ms
    return np.minimum(10.0 * np.log10(3.0 + 20.0 * fresnel), 25.0)


def shock_arrival(
    *,
    muzzle_xyz: np.ndarray,
    direction: np.ndarray,
    bullet_speed_ms: float,
    supersonic_range_m: float,
    sensor_xyz: np.ndarray,
    speed_ms: float,
) -> tuple[float, float] | None:
    """Earliest arrival time (s after discharge) of the bullet's shock at a sensor, or None.

    The shock front reaching the sensor leaves the trajectory where the sensor sits on the
    Mach cone (Fermat: minimise s/V + |r - s u|/c over the supersonic part of the path).
    Returns (arrival delay, miss distance) only when the shock beats the muzzle blast.
    """
    if bullet_speed_ms <= speed_ms:
        return None
    u = direction / np.linalg.norm(direction)
    rel = sensor_xyz - muzzle_xyz
    s = np.linspace(0.0, supersonic_range_m, 400)
    times = s / bullet_speed_ms + np.linalg.norm(rel[None, :] - s[:, None] * u[None, :], axis=1) / (
        speed_ms
    )
    best = int(np.argmin(times))
    if best == 0:
        return None
    along = float(rel @ u)
    miss = float(np.linalg.norm(rel - along * u))
    return float(times[best]), max(miss, 1.0)
