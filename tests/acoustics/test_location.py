"""Multilateration: closed form, MLG, robust refinement, covariance, ellipse and the CRB."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apps.acoustics.bench.location_synthetic import arrival_times, random_array, run_trials
from apps.acoustics.location import (
    CHI2_2DOF_95,
    LocationError,
    closed_form,
    cramer_rao_bound,
    error_ellipse,
    locate,
    locate_pulses,
    mlg,
    three_sensor_solutions,
)
from apps.acoustics.types import Pulse

C = 331.3
T0 = 1545180567.0
SENSORS = np.array(
    [
        [0.0, 0.0, 10.0],
        [900.0, 50.0, 25.0],
        [850.0, 950.0, 5.0],
        [-50.0, 1000.0, 30.0],
        [450.0, 480.0, 12.0],
        [1200.0, 500.0, 0.0],
        [400.0, -300.0, 8.0],
    ]
)


def arrivals(source, *, source_z=None, t_emit=T0, sensors=SENSORS):
    dz = 0.0 if source_z is None else sensors[:, 2] - source_z
    distance = np.sqrt((sensors[:, 0] - source[0]) ** 2 + (sensors[:, 1] - source[1]) ** 2 + dz**2)
    return t_emit + distance / C


def test_closed_form_is_exact_without_noise():
    x, y, t = closed_form(sensors=SENSORS, times=arrivals((310.0, 620.0)), c=C)
    assert (x, y) == pytest.approx((310.0, 620.0), abs=1e-4)
    assert t == pytest.approx(T0, abs=1e-7)


def test_two_and_a_half_d_uses_the_given_source_height():
    times = arrivals((310.0, 620.0), source_z=-20.0)
    fix = locate(sensors=SENSORS, times=times, c=C, source_z=-20.0)
    assert (fix.x, fix.y, fix.z) == pytest.approx((310.0, 620.0, -20.0), abs=1e-4)
    assert fix.t_emit == pytest.approx(T0, abs=1e-7)
    # The 2D model (horizontal distances) cannot fit these heights exactly.
    flat = locate(sensors=SENSORS, times=times, c=C)
    assert flat.residual_rms_s > 1e-4


def test_refinement_recovers_position_time_and_small_residuals_with_noise():
    rng = np.random.default_rng(3)
    times = arrivals((-150.0, 400.0)) + rng.normal(0, 0.001, len(SENSORS))
    fix = locate(sensors=SENSORS, times=times, c=C)
    assert math.hypot(fix.x + 150.0, fix.y - 400.0) < 3.0
    assert abs(fix.t_emit - T0) < 0.005
    assert 0.0002 < fix.residual_rms_s < 0.002
    assert fix.converged


def test_huber_resists_a_late_non_line_of_sight_pulse():
    rng = np.random.default_rng(4)
    times = arrivals((500.0, 300.0)) + rng.normal(0, 0.0005, len(SENSORS))
    times[2] += 0.030  # diffracted around a building: 30 ms late
    robust = locate(sensors=SENSORS, times=times, c=C)
    plain = locate(sensors=SENSORS, times=times, c=C, huber_s=None)
    robust_error = math.hypot(robust.x - 500.0, robust.y - 300.0)
    plain_error = math.hypot(plain.x - 500.0, plain.y - 300.0)
    assert robust_error < plain_error / 2
    assert robust.weights[2] < 0.2 and robust.weights.min() == robust.weights[2]


def test_too_few_or_degenerate_sensors_raise_a_clear_error():
    with pytest.raises(LocationError, match="at least 4"):
        locate(sensors=SENSORS[:3], times=arrivals((1.0, 2.0))[:3], c=C)
    line = np.column_stack([np.arange(6) * 100.0, np.arange(6) * 50.0, np.zeros(6)])
    times = arrivals((200.0, 400.0), sensors=line)
    with pytest.raises(LocationError, match="degenerate|collinear"):
        locate(sensors=line, times=times, c=C)
    with pytest.raises(LocationError, match="finite"):
        locate(sensors=SENSORS, times=np.full(len(SENSORS), np.nan), c=C)
    same_place = np.repeat(SENSORS[:1], 5, axis=0)
    with pytest.raises(LocationError):
        locate(sensors=same_place, times=T0 + np.arange(5) * 0.01, c=C)


def test_error_ellipse_of_a_known_covariance():
    # Variance 4 m^2 along north, 1 m^2 along east.
    major, minor, azimuth = error_ellipse([[1.0, 0.0], [0.0, 4.0]])
    assert major == pytest.approx(2.0 * math.sqrt(CHI2_2DOF_95))
    assert minor == pytest.approx(math.sqrt(CHI2_2DOF_95))
    assert azimuth == pytest.approx(0.0, abs=1e-9) or azimuth == pytest.approx(180.0)
    # Rotated 45 degrees: the major axis points north-east.
    rotation = np.array([[1, 1], [-1, 1]]) / math.sqrt(2)
    cov = rotation.T @ np.diag([9.0, 1.0]) @ rotation
    major, minor, azimuth = error_ellipse(cov, scale=1.0)
    assert (major, minor, azimuth) == pytest.approx((3.0, 1.0, 45.0))


def test_cramer_rao_bound_matches_monte_carlo_spread_of_least_squares():
    rng = np.random.default_rng(11)
    source, sigma = np.array([300.0, 450.0]), 0.001
    bound = cramer_rao_bound(sensors=SENSORS, source=source, c=C, sigma_s=sigma)
    estimates = []
    for _ in range(1500):
        times = arrivals(source) + rng.normal(0, sigma, len(SENSORS))
        fix = locate(sensors=SENSORS, times=times, c=C, huber_s=None)
        estimates.append((fix.x, fix.y))
    spread = np.cov(np.array(estimates).T)
    assert np.trace(spread) == pytest.approx(np.trace(bound), rel=0.1)
    # The fit's own covariance (known sigma) agrees with the bound at the truth.
    fix = locate(sensors=SENSORS, times=arrivals(source), c=C, huber_s=None, timing_sigma_s=sigma)
    assert fix.cov_xy == pytest.approx(bound, rel=1e-3, abs=1e-6)


def test_cramer_rao_bound_rejects_bad_input():
    with pytest.raises(ValueError):
        cramer_rao_bound(sensors=SENSORS, source=(1.0, 1.0), c=C, sigma_s=0.0)
    with pytest.raises(ValueError, match="coincides"):
        cramer_rao_bound(sensors=SENSORS, source=SENSORS[0, :2], c=C, sigma_s=0.001)


def test_rms_error_is_near_the_bound_and_ellipses_cover_95_percent():
    # 2000 random 8-sensor arrays, 1 ms Gaussian timing noise, fixed seed. Measured
    # (seed 20240): RMS/CRB 1.07, coverage 94.5% with known sigma.
    result = run_trials(trials=2000, sigma_s=0.001, seed=20240)
    assert result.failures == 0
    assert result.ratio < 1.15
    assert 0.93 <= result.coverage <= 0.97
    # Sigma estimated from residuals: the F-based scale keeps coverage near 95%.
    assert 0.92 <= result.coverage_estimated_sigma <= 0.97


def test_locate_pulses_builds_a_located_shot():
    times = arrivals((310.0, 620.0))
    pulses = [
        Pulse(f"p{k}", f"S{k}", float(t), *map(float, SENSORS[k])) for k, t in enumerate(times)
    ]
    shot = locate_pulses(pulses, c=C)
    assert (shot.x, shot.y) == pytest.approx((310.0, 620.0), abs=1e-3)
    assert shot.n_sensors == len(SENSORS) and shot.confident and not shot.outside_hull
    assert shot.pulse_uuids == tuple(p.pulse_uuid for p in pulses)
    outside = locate_pulses(
        [
            Pulse(p.pulse_uuid, p.sensor_id, float(t), p.x, p.y, p.z)
            for p, t in zip(pulses, arrivals((3000.0, 3000.0)), strict=True)
        ],
        c=C,
    )
    assert outside.outside_hull
    with pytest.raises(LocationError, match="one pulse per sensor"):
        locate_pulses(pulses + [pulses[0]], c=C)


def test_three_sensor_solutions_recover_the_source_or_both_mirror_images():
    three = SENSORS[[0, 1, 3]]
    (only,) = three_sensor_solutions(
        sensors=three, times=arrivals((350.0, 300.0), sensors=three), c=C
    )
    assert only[:2] == pytest.approx((350.0, 300.0), abs=1e-3)
    assert only[2] == pytest.approx(T0, abs=1e-6)
    # Far outside the triangle two emission points fit the same three times. The geometry is
    # poorly conditioned there: float64 epoch times (0.2 us) alone move the fix ~8 cm.
    far = three_sensor_solutions(
        sensors=three, times=arrivals((2500.0, -1500.0), sensors=three), c=C
    )
    assert len(far) == 2
    assert min(math.hypot(x - 2500.0, y + 1500.0) for x, y, _ in far) < 0.5
    with pytest.raises(LocationError):
        three_sensor_solutions(sensors=SENSORS[:4], times=arrivals((1.0, 1.0))[:4], c=C)


# -- Mathias-Leonardi-Galati (TN 098's evaluation) ------------------------------------


def arrivals_3d(source_xyz, *, t_emit=T0, sensors=SENSORS):
    return t_emit + np.linalg.norm(sensors - np.asarray(source_xyz)[None, :], axis=1) / C


def arrivals_in_wind(source, wind, *, t_emit=T0, sensors=SENSORS):
    """Exact 2D arrivals in moving air: the wavefront is a circle of radius c u centred on
    source + wind u (u = t - t_emit), i.e. (c^2 - |v|^2) u^2 + 2 (d.v) u - |d|^2 = 0."""
    d = sensors[:, :2] - np.asarray(source)[None, :]
    v = np.asarray(wind, dtype=float)
    a, b, k = C**2 - v @ v, d @ v, np.sum(d**2, axis=1)
    return t_emit + (-b + np.sqrt(b**2 + a * k)) / a


def test_mlg_is_exact_without_noise_in_2d_25d_and_3d():
    fix = mlg(sensors=SENSORS, times=arrivals((310.0, 620.0)), c=C)
    assert (fix.x, fix.y, fix.z) == (pytest.approx(310.0, abs=1e-4), pytest.approx(620.0), None)
    assert fix.t_emit == pytest.approx(T0, abs=1e-7)
    assert fix.residual_rms_s < 1e-7
    # 2.5D: source height given, sensors keep theirs.
    fix = mlg(sensors=SENSORS, times=arrivals((310.0, 620.0), source_z=-20.0), c=C, source_z=-20.0)
    assert (fix.x, fix.y, fix.z) == pytest.approx((310.0, 620.0, -20.0), abs=1e-4)
    # 3D: the height is an unknown too.
    fix = mlg(sensors=SENSORS, times=arrivals_3d((310.0, 620.0, 4.0)), c=C, solve_z=True)
    assert (fix.x, fix.y, fix.z) == pytest.approx((310.0, 620.0, 4.0), abs=1e-3)
    assert fix.t_emit == pytest.approx(T0, abs=1e-7)


def test_mlg_with_the_minimum_number_of_sensors_solves_exactly():
    four = SENSORS[:4]
    fix = mlg(sensors=four, times=arrivals((200.0, 700.0), sensors=four), c=C)
    assert (fix.x, fix.y) == pytest.approx((200.0, 700.0), abs=1e-3)
    five = SENSORS[:5]
    fix = mlg(
        sensors=five, times=arrivals_3d((200.0, 700.0, 15.0), sensors=five), c=C, solve_z=True
    )
    assert (fix.x, fix.y, fix.z) == pytest.approx((200.0, 700.0, 15.0), abs=1e-2)


def test_mlg_does_not_depend_on_the_frame_origin():
    # Live-fire frames sit kilometres from the origin at epoch times of 1.5e9 s.
    times = arrivals((310.0, 620.0)) + np.random.default_rng(5).normal(0, 0.001, len(SENSORS))
    near = mlg(sensors=SENSORS, times=times, c=C)
    offset = np.array([-11450.0, 3653.0, -90.0])
    far = mlg(sensors=SENSORS + offset, times=times + 12345.0, c=C)
    assert (far.x - offset[0], far.y - offset[1]) == pytest.approx((near.x, near.y), abs=1e-6)
    assert far.t_emit - 12345.0 == pytest.approx(near.t_emit, abs=1e-8)


def test_mlg_wind_shift_recovers_the_source_in_moving_air():
    wind = np.array([6.0, -4.0])  # m/s east, north
    times = arrivals_in_wind((310.0, 620.0), wind)
    fix = mlg(sensors=SENSORS, times=times, c=C, wind_xy=wind)
    assert (fix.x, fix.y) == pytest.approx((310.0, 620.0), abs=1e-3)
    assert fix.t_emit == pytest.approx(T0, abs=1e-6)
    assert 1 <= fix.wind_iterations < 10
    still = mlg(sensors=SENSORS, times=times, c=C)
    assert math.hypot(still.x - 310.0, still.y - 620.0) > 0.5
    assert still.wind_iterations == 0


def test_mlg_refuses_degenerate_geometry_and_bad_input():
    line = np.column_stack([np.arange(6) * 100.0, np.arange(6) * 50.0, np.zeros(6)])
    with pytest.raises(LocationError, match="degenerate"):
        mlg(sensors=line, times=arrivals((200.0, 400.0), sensors=line), c=C)
    flat = SENSORS.copy()
    flat[:, 2] = 7.0  # one plane: the height cannot be solved
    with pytest.raises(LocationError, match="degenerate"):
        mlg(sensors=flat, times=arrivals_3d((310.0, 620.0, 0.0), sensors=flat), c=C, solve_z=True)
    with pytest.raises(LocationError, match="at least 4"):
        mlg(sensors=SENSORS[:3], times=arrivals((1.0, 2.0))[:3], c=C)
    with pytest.raises(LocationError, match="at least 5"):
        mlg(sensors=SENSORS[:4], times=arrivals((1.0, 2.0))[:4], c=C, solve_z=True)
    with pytest.raises(LocationError, match="at least 4"):
        mlg(sensors=np.repeat(SENSORS[:1], 6, axis=0), times=T0 + np.arange(6) * 0.01, c=C)
    with pytest.raises(LocationError, match="finite"):
        mlg(sensors=SENSORS, times=np.full(len(SENSORS), np.nan), c=C)
    with pytest.raises(LocationError, match="not both"):
        mlg(sensors=SENSORS, times=arrivals((1.0, 2.0)), c=C, source_z=0.0, solve_z=True)
    with pytest.raises(LocationError, match="speed of sound"):
        mlg(sensors=SENSORS, times=arrivals((1.0, 2.0)), c=0.0)


def test_mlg_is_less_efficient_than_the_refined_fix():
    # Why MLG is not the default locator: its residuals are squared ranges, which weights
    # far sensors by their range. 400 random 8-sensor arrays, 1 ms noise, fixed seed.
    rng = np.random.default_rng(77)
    algebraic, refined = [], []
    for _ in range(400):
        array = random_array(rng)
        times = arrival_times(array, c=340.0) + rng.normal(0.0, 0.001, len(array.sensors))
        for errors, fix in (
            (algebraic, mlg(sensors=array.sensors, times=times, c=340.0)),
            (refined, locate(sensors=array.sensors, times=times, c=340.0, huber_s=None)),
        ):
            errors.append(np.sum((np.array([fix.x, fix.y]) - array.source) ** 2))
    assert math.sqrt(np.mean(algebraic)) > 1.15 * math.sqrt(np.mean(refined))


def test_a_huber_threshold_must_be_positive():
    times = arrivals((310.0, 620.0))
    for huber_s in (0.0, -0.002, float("nan")):
        with pytest.raises(LocationError, match="Huber threshold"):
            locate(sensors=SENSORS, times=times, c=C, huber_s=huber_s)
