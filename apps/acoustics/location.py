"""Multilateration: where and when was a shot fired, given arrival times at sensors.

Model (time of arrival with unknown emission time): t_i = tau + |s_i - p| / c, where p is
the source. "2D" uses horizontal distances only (TN 098 found 2D as good as 3D); "2.5D"
fixes the source height at a given z and keeps the sensors' heights. Residuals are
computed in metres (c times seconds), which keeps every unknown on the same scale.

The start comes from a closed-form linear solve in the spirit of Mathias-Leonardi-Galati
(no reference sensor: unknowns x, y, c*tau and the nuisance w = |p|^2 - (c tau)^2), refined
by Gauss-Newton with Huber weights (iteratively reweighted least squares), so a few
non-line-of-sight pulses cannot drag the fix far.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from apps.acoustics.geometry import inside_hull
from apps.acoustics.types import LocatedShot, Pulse

CHI2_2DOF_95 = 5.991464547107979
# Huber threshold: real line-of-sight residuals are a few ms; NLOS pulses are 10-40 ms late.
DEFAULT_HUBER_S = 0.0025
# Floor for the timing standard deviation estimated from residuals: 1 ms rounding of the
# published arrival times plus the sensors' onset jitter (~0.1 ms) is about 0.3 ms.
MIN_TIMING_SIGMA_S = 0.0003


@functools.lru_cache(maxsize=256)
def ellipse_scale_estimated_sigma(dof: int) -> float:
    """95% quantile of 2 F(2, dof): the ellipse scale when sigma comes from the residuals."""
    return 2.0 * float(stats.f.ppf(0.95, 2, dof))


class LocationError(ValueError):
    """The inputs cannot give a location (too few sensors, degenerate geometry, bad values)."""


@dataclass(frozen=True)
class Fix:
    """A solved source: position, emission time and the fit's quality."""

    x: float
    y: float
    z: float | None
    t_emit: float
    residuals_s: np.ndarray  # observed minus predicted arrival time, per input sensor
    weights: np.ndarray  # final Huber weights (1 = full weight)
    cov_xy: np.ndarray  # 2x2, m^2
    sigma_s: float  # timing standard deviation used for cov_xy
    ellipse_scale: float  # quantile so that the 95% ellipse is d^T cov^-1 d <= scale
    converged: bool

    @property
    def residual_rms_s(self) -> float:
        return float(np.sqrt(np.mean(self.residuals_s**2)))


def _as_arrays(sensors, times) -> tuple[np.ndarray, np.ndarray]:
    sensors = np.asarray(sensors, dtype=float)
    times = np.asarray(times, dtype=float)
    if sensors.ndim != 2 or sensors.shape[1] not in (2, 3) or len(sensors) != len(times):
        raise LocationError("sensors must be (n, 2) or (n, 3) with one arrival time each")
    if sensors.shape[1] == 2:
        sensors = np.column_stack([sensors, np.zeros(len(sensors))])
    if not (np.all(np.isfinite(sensors)) and np.all(np.isfinite(times))):
        raise LocationError("sensor positions and arrival times must be finite")
    return sensors, times


def _vertical_offsets(sensors: np.ndarray, source_z: float | None) -> np.ndarray:
    return np.zeros(len(sensors)) if source_z is None else sensors[:, 2] - source_z


def closed_form(*, sensors, times, c: float, source_z: float | None = None):
    """Linear least-squares start (x, y, t_emit) from >= 4 sensors, or None if degenerate."""
    sensors, times = _as_arrays(sensors, times)
    if len(sensors) < 4:
        return None
    centre = sensors[:, :2].mean(axis=0)
    xy = sensors[:, :2] - centre
    t_ref = times.min()
    ranges = c * (times - t_ref)
    dz = _vertical_offsets(sensors, source_z)
    a = np.column_stack([-2.0 * xy, 2.0 * ranges, np.ones(len(xy))])
    b = ranges**2 - np.sum(xy**2, axis=1) - dz**2
    # Scale columns so the rank test is about geometry, not units.
    scale = np.maximum(np.abs(a).max(axis=0), 1e-12)
    solution, _, rank, singular = np.linalg.lstsq(a / scale, b, rcond=None)
    if rank < 4 or singular[-1] < 1e-9 * singular[0]:
        return None
    x, y, c_tau, _ = solution / scale
    if not np.all(np.isfinite([x, y, c_tau])):
        return None
    return float(x + centre[0]), float(y + centre[1]), float(t_ref + c_tau / c)


def three_sensor_solutions(*, sensors, times, c: float, source_z: float | None = None):
    """All (x, y, t_emit) consistent with exactly three arrivals (0, 1 or 2 of them).

    Three times fix three unknowns with no redundancy: nothing can be checked, and two
    mirror solutions are common, so callers must treat the result as low confidence.
    With the nuisance w = |p|^2 - (c tau)^2 the equations are linear given w; substituting
    back gives a quadratic in w.
    """
    sensors, times = _as_arrays(sensors, times)
    if len(sensors) != 3:
        raise LocationError("three_sensor_solutions takes exactly three arrivals")
    centre = sensors[:, :2].mean(axis=0)
    xy = sensors[:, :2] - centre
    t_ref = times.min()
    ranges = c * (times - t_ref)
    dz = _vertical_offsets(sensors, source_z)
    a = np.column_stack([-2.0 * xy, 2.0 * ranges])
    rhs = ranges**2 - np.sum(xy**2, axis=1) - dz**2
    if abs(np.linalg.det(a)) < 1e-9 * max(np.abs(a).max(), 1.0) ** 3:
        return []
    u = np.linalg.solve(a, rhs)
    v = np.linalg.solve(a, np.ones(3))
    # [x, y, b] = u - w v and w = x^2 + y^2 - b^2.
    signs = np.array([1.0, 1.0, -1.0])
    qa = np.sum(signs * v * v)
    qb = -(2.0 * np.sum(signs * u * v) + 1.0)
    qc = np.sum(signs * u * u)
    if abs(qa) < 1e-12:
        roots = [] if abs(qb) < 1e-12 else [-qc / qb]
    else:
        disc = qb * qb - 4 * qa * qc
        if disc < 0:
            return []
        roots = [(-qb + sign * math.sqrt(disc)) / (2 * qa) for sign in (1.0, -1.0)]
    solutions = []
    for w in roots:
        x, y, b = u - w * v
        distances = np.sqrt((xy[:, 0] - x) ** 2 + (xy[:, 1] - y) ** 2 + dz**2)
        # The emission precedes every arrival and each range matches its sensor distance.
        if np.all(ranges - b >= -1e-6) and np.allclose(distances, ranges - b, atol=1e-3):
            solutions.append((float(x + centre[0]), float(y + centre[1]), t_ref + b / c))
    return solutions


def _model(params, sensors_xy, dz, rel_times, c, wind_xy):
    """Residuals (m) and Jacobian for params (x, y, b = c * tau)."""
    delays = rel_times - params[2] / c  # t_i - tau
    q = sensors_xy - delays[:, None] * wind_xy[None, :] - params[None, :2]
    dist = np.sqrt(np.sum(q**2, axis=1) + dz**2)
    residual = c * delays - dist  # observed range minus geometric range
    safe = np.maximum(dist, 1e-9)
    unit = q / safe[:, None]
    jac = np.empty((len(dist), 3))
    jac[:, :2] = unit  # d(residual)/dp = +q/|q|
    jac[:, 2] = -1.0 - (unit @ wind_xy) / c
    return residual, jac


def refine(
    *,
    sensors,
    times,
    c: float,
    start: tuple[float, float, float],
    source_z: float | None = None,
    wind_xy=(0.0, 0.0),
    huber_s: float | None = DEFAULT_HUBER_S,
    timing_sigma_s: float | None = None,
    max_iter: int = 30,
) -> Fix:
    """Gauss-Newton/IRLS from start (x, y, t_emit); huber_s=None gives plain least squares.

    The covariance is sigma^2 (J^T W J)^-1 in the (x, y) block. With timing_sigma_s given
    the 95% ellipse uses chi-square(2); otherwise sigma is estimated from the weighted
    residuals and the ellipse uses 2 F(2, n-3), which allows for that estimate's spread.
    """
    sensors, times = _as_arrays(sensors, times)
    n = len(times)
    if n < 3:
        raise LocationError(f"need at least 3 sensors to locate, got {n}")
    t_ref = times.min()
    rel = times - t_ref
    dz = _vertical_offsets(sensors, source_z)
    wind = np.asarray(wind_xy, dtype=float)[:2]
    params = np.array([start[0], start[1], c * (start[2] - t_ref)], dtype=float)
    huber_m = None if huber_s is None else huber_s * c
    weights = np.ones(n)
    converged = False
    damping = 0.0
    residual, jac = _model(params, sensors[:, :2], dz, rel, c, wind)
    for _ in range(max_iter):
        if huber_m is not None:
            weights = np.minimum(1.0, huber_m / np.maximum(np.abs(residual), 1e-12))
        sw = np.sqrt(weights)
        jw, rw = jac * sw[:, None], residual * sw
        normal = jw.T @ jw
        gradient = jw.T @ rw
        cost = rw @ rw
        while True:
            try:
                damped = normal.copy()
                damped.flat[::4] *= 1.0 + damping
                step = -np.linalg.solve(damped, gradient)
            except np.linalg.LinAlgError:
                raise LocationError("degenerate sensor geometry (singular normal matrix)") from None
            trial = params + step
            new_residual, new_jac = _model(trial, sensors[:, :2], dz, rel, c, wind)
            new_cost = np.sum(weights * new_residual**2)
            if new_cost <= cost * (1 + 1e-12) or damping > 1e6:
                break
            damping = max(damping * 10.0, 1e-3)
        params, residual, jac = trial, new_residual, new_jac
        damping *= 0.1
        if abs(step[0]) + abs(step[1]) + abs(step[2]) < 1e-3:  # metres
            converged = True
            break
    if not np.all(np.isfinite(params)):
        raise LocationError("location diverged")
    if huber_m is not None:
        weights = np.minimum(1.0, huber_m / np.maximum(np.abs(residual), 1e-12))
    jw = jac * np.sqrt(weights)[:, None]
    normal = jw.T @ jw
    if np.linalg.cond(normal) > 1e14:
        raise LocationError("degenerate sensor geometry (e.g. collinear sensors)")
    dof = n - 3
    if timing_sigma_s is not None:
        sigma_s = float(timing_sigma_s)
        scale = CHI2_2DOF_95
    elif dof > 0:
        sigma_s = max(math.sqrt(np.sum(weights * residual**2) / dof) / c, MIN_TIMING_SIGMA_S)
        scale = ellipse_scale_estimated_sigma(dof)
    else:
        # Exactly determined: no residual to estimate the noise from; use the floor.
        sigma_s, scale = MIN_TIMING_SIGMA_S, CHI2_2DOF_95
    cov = (sigma_s * c) ** 2 * np.linalg.inv(normal)
    return Fix(
        x=float(params[0]),
        y=float(params[1]),
        z=source_z,
        t_emit=float(t_ref + params[2] / c),
        residuals_s=residual / c,
        weights=weights,
        cov_xy=cov[:2, :2],
        sigma_s=sigma_s,
        ellipse_scale=scale,
        converged=converged,
    )


def locate(
    *,
    sensors,
    times,
    c: float,
    source_z: float | None = None,
    wind_xy=(0.0, 0.0),
    huber_s: float | None = DEFAULT_HUBER_S,
    timing_sigma_s: float | None = None,
) -> Fix:
    """Closed-form start then robust refinement; needs >= 4 sensors in a non-degenerate layout."""
    sensors, times = _as_arrays(sensors, times)
    if len(np.unique(sensors[:, :2], axis=0)) < 4:
        raise LocationError("need at least 4 sensors at distinct positions to locate a shot")
    start = closed_form(sensors=sensors, times=times, c=c, source_z=source_z)
    if start is None:
        raise LocationError("degenerate sensor geometry (e.g. collinear sensors)")
    return refine(
        sensors=sensors,
        times=times,
        c=c,
        start=start,
        source_z=source_z,
        wind_xy=wind_xy,
        huber_s=huber_s,
        timing_sigma_s=timing_sigma_s,
    )


def error_ellipse(cov_xy, *, scale: float = CHI2_2DOF_95) -> tuple[float, float, float]:
    """(semi-major m, semi-minor m, azimuth of the major axis in degrees from north, [0, 180))."""
    cov = np.asarray(cov_xy, dtype=float)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    minor_var, major_var = np.maximum(eigenvalues, 0.0)
    east, north = eigenvectors[:, 1]
    azimuth = math.degrees(math.atan2(east, north)) % 180.0
    return math.sqrt(scale * major_var), math.sqrt(scale * minor_var), azimuth


def inside_ellipse(*, cov_xy, centre, point, scale: float = CHI2_2DOF_95) -> bool:
    d = np.asarray(point, dtype=float)[:2] - np.asarray(centre, dtype=float)[:2]
    return bool(d @ np.linalg.solve(np.asarray(cov_xy, dtype=float), d) <= scale)


def shot_from_fix(fix: Fix, pulses: list[Pulse], *, hull_sensors_xy=None) -> LocatedShot:
    """Package a fix of the given pulses (same order as the fit's inputs) as a LocatedShot."""
    major, minor, azimuth = error_ellipse(fix.cov_xy, scale=fix.ellipse_scale)
    if hull_sensors_xy is None:
        hull_sensors_xy = [(p.x, p.y) for p in pulses]
    return LocatedShot(
        t_emit=fix.t_emit,
        x=fix.x,
        y=fix.y,
        z=fix.z,
        pulse_uuids=tuple(p.pulse_uuid for p in pulses),
        sensor_ids=tuple(p.sensor_id for p in pulses),
        residual_rms_s=fix.residual_rms_s,
        cov_xy=tuple(tuple(float(v) for v in row) for row in fix.cov_xy),
        ellipse95_major_m=major,
        ellipse95_minor_m=minor,
        ellipse95_azimuth_deg=azimuth,
        outside_hull=not inside_hull(point=(fix.x, fix.y), sensors_xy=hull_sensors_xy),
        confident=len({p.sensor_id for p in pulses}) >= 4,
    )


def locate_pulses(
    pulses: list[Pulse],
    *,
    c: float,
    source_z: float | None = None,
    wind_xy=(0.0, 0.0),
    huber_s: float | None = DEFAULT_HUBER_S,
    timing_sigma_s: float | None = None,
) -> LocatedShot:
    """Locate one shot from its pulses (one per sensor)."""
    sensor_ids = [p.sensor_id for p in pulses]
    if len(set(sensor_ids)) != len(sensor_ids):
        raise LocationError("a shot takes at most one pulse per sensor")
    fix = locate(
        sensors=[(p.x, p.y, p.z) for p in pulses],
        times=[p.t for p in pulses],
        c=c,
        source_z=source_z,
        wind_xy=wind_xy,
        huber_s=huber_s,
        timing_sigma_s=timing_sigma_s,
    )
    return shot_from_fix(fix, pulses)


def cramer_rao_bound(
    *,
    sensors,
    source,
    c: float,
    sigma_s: float,
    source_z: float | None = None,
) -> np.ndarray:
    """2x2 Cramér-Rao bound on (x, y) for TOA with unknown emission time (= TDOA), m^2.

    Independent Gaussian timing noise of standard deviation sigma_s at every sensor; the
    emission time is a nuisance parameter, which makes this the TDOA bound as well.
    """
    sensors, _ = _as_arrays(sensors, np.zeros(len(np.asarray(sensors))))
    if sigma_s <= 0 or not math.isfinite(sigma_s):
        raise ValueError("sigma_s must be a positive number of seconds")
    dz = _vertical_offsets(sensors, source_z)
    q = sensors[:, :2] - np.asarray(source, dtype=float)[None, :2]
    dist = np.sqrt(np.sum(q**2, axis=1) + dz**2)
    if np.any(dist < 1e-9):
        raise ValueError("source coincides with a sensor: the bound is undefined")
    jac = np.column_stack([q / dist[:, None], -np.ones(len(dist))])  # metres per (x, y, c tau)
    fisher = jac.T @ jac / (sigma_s * c) ** 2
    if np.linalg.cond(fisher) > 1e14:
        raise LocationError("degenerate sensor geometry: the bound is unbounded")
    return np.linalg.inv(fisher)[:2, :2]
