"""Speed of sound and the wind correction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apps.acoustics.location import locate
from apps.acoustics.sound import (
    speed_of_sound,
    wind_shifted_sensors,
    wind_vector,
)


def test_speed_of_sound_follows_the_linear_law():
    assert speed_of_sound(0.0) == pytest.approx(331.3)
    assert speed_of_sound(20.0) == pytest.approx(343.42)
    assert speed_of_sound(-1.1) == pytest.approx(330.6334)
    # Within 0.25% of TN 098's c = 20.03 sqrt(T + 273.15) over the usual range.
    for t in (-20.0, 0.0, 30.0):
        assert speed_of_sound(t) == pytest.approx(20.03 * math.sqrt(t + 273.15), rel=2.5e-3)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 250.0, "15"])
def test_bad_temperatures_are_refused(bad):
    with pytest.raises(ValueError):
        speed_of_sound(bad)


def test_wind_vector_uses_the_from_azimuth():
    assert wind_vector(speed_ms=2.0, from_deg=0.0) == pytest.approx([0.0, -2.0])  # to south
    assert wind_vector(speed_ms=2.0, from_deg=90.0) == pytest.approx([-2.0, 0.0])  # to west
    assert wind_vector(speed_ms=1.0, from_deg=225.0) == pytest.approx(
        [math.sqrt(0.5), math.sqrt(0.5)]
    )
    with pytest.raises(ValueError):
        wind_vector(speed_ms=-1.0, from_deg=0.0)


def moving_air_arrivals(sensors, source, t_emit, c, wind):
    """Exact arrival in uniformly moving air: |s - (x + v dt)| = c dt, solved for dt."""
    times = []
    for s in sensors:
        d = s[:2] - source
        # |d - v t|^2 = c^2 t^2  ->  (v.v - c^2) t^2 - 2 (d.v) t + d.d = 0
        a, b, k = wind @ wind - c**2, -2 * d @ wind, d @ d
        times.append(t_emit + (-b - math.sqrt(b * b - 4 * a * k)) / (2 * a))
    return np.array(times)


def test_shifted_sensors_restore_still_air_geometry():
    c, source, t_emit = 331.3, np.array([120.0, -40.0]), 100.0
    wind = wind_vector(speed_ms=10.0, from_deg=240.0)
    sensors = np.array([[800.0, 0.0, 0.0], [-600.0, 300.0, 0.0], [0.0, -900.0, 0.0]])
    times = moving_air_arrivals(sensors, source, t_emit, c, wind)
    shifted = wind_shifted_sensors(
        sensors_xy=sensors, arrival_times=times, t_emit=t_emit, wind_xy=wind
    )
    still_air = np.hypot(*(shifted[:, :2] - source).T) / c
    assert still_air == pytest.approx(times - t_emit, abs=1e-9)


def test_wind_correction_removes_the_wind_bias_from_a_fix():
    rng = np.random.default_rng(7)
    c, source, t_emit = 331.3, np.array([150.0, 420.0]), 5000.0
    wind = wind_vector(speed_ms=8.0, from_deg=300.0)
    sensors = np.column_stack([rng.uniform(-1000, 1000, (8, 2)), np.zeros(8)])
    times = moving_air_arrivals(sensors, source, t_emit, c, wind)
    plain = locate(sensors=sensors, times=times, c=c, huber_s=None)
    corrected = locate(sensors=sensors, times=times, c=c, wind_xy=wind, huber_s=None)
    assert math.hypot(plain.x - source[0], plain.y - source[1]) > 1.0
    assert math.hypot(corrected.x - source[0], corrected.y - source[1]) < 0.01
