"""Speed of sound and the wind correction used for locating shots (TN 098)."""

from __future__ import annotations

import math

import numpy as np

from apps.acoustics.types import Weather

DEFAULT_TEMPERATURE_C = 15.0


def speed_of_sound(temperature_c: float) -> float:
    """Speed of sound in dry air, m/s: c = 331.3 + 0.606 T (T in °C)."""
    if not isinstance(temperature_c, int | float) or not math.isfinite(temperature_c):
        raise ValueError(f"temperature must be a finite number of °C, got {temperature_c!r}")
    if not -100.0 <= temperature_c <= 100.0:
        raise ValueError(f"temperature {temperature_c} °C is outside the plausible range")
    return 331.3 + 0.606 * float(temperature_c)


def wind_vector(*, speed_ms: float, from_deg: float) -> np.ndarray:
    """(east, north) velocity of the air, m/s, for wind blowing FROM the given azimuth."""
    if not (math.isfinite(speed_ms) and math.isfinite(from_deg)) or speed_ms < 0:
        raise ValueError("wind speed must be finite and >= 0, direction finite")
    azimuth = math.radians(from_deg)
    # Wind from the north (0°) moves air towards the south: velocity (0, -speed).
    return np.array([-speed_ms * math.sin(azimuth), -speed_ms * math.cos(azimuth)])


def weather_wind(weather: Weather | None) -> np.ndarray:
    if weather is None:
        return np.zeros(2)
    return wind_vector(speed_ms=weather.wind_speed_ms, from_deg=weather.wind_from_deg)


def wind_shifted_sensors(*, sensors_xy, arrival_times, t_emit: float, wind_xy) -> np.ndarray:
    """Shift each sensor by -(t_i - t*) v so that still-air geometry applies (TN 098).

    In moving air the wavefront from a shot at x at time t* is a sphere centred on
    x + v (t - t*); equivalently the sensor sits at s - (t - t*) v in still air.
    """
    sensors = np.asarray(sensors_xy, dtype=float)
    delays = np.asarray(arrival_times, dtype=float) - t_emit
    shifted = sensors.copy()
    shifted[:, :2] -= delays[:, None] * np.asarray(wind_xy, dtype=float)[None, :2]
    return shifted
