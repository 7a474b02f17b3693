"""Multilateration: where and when was a shot fired, given arrival times at sensors.

Model (time of arrival with unknown emission time): t_i = tau + |s_i - p| / c, where p is
the source. "2D" uses horizontal distances only (TN 098 found 2D as good as 3D); "2.5D"
fixes the source height at a given z and keeps the sensors' heights. Residuals are
computed in metres (c times seconds), which keeps every unknown on the same scale.

The start comes from a closed-form linear solve in the spirit of Mathias-Leonardi-Galati
(no reference sensor: unknowns x, y, c*tau and the nuisance w = |p|^2 - (c tau)^2), refined
by Gauss-Newton with Huber weights (iteratively reweighted least squares), so a few
non-line-of-sight pulses cannot drag the fix far.

`mlg` is Mathias-Leonardi-Galati on its own, as TN 098 evaluated it (2D, 2.5D or 3D, with
the wind shift): the algebraic least-squares solution, kept for reproducing ShotSpotter's
published figures. It is not the default locator: its residuals are ranges squared, which
weights distant sensors by their range, so it is not efficient (about 1.57x the
Cramér-Rao bound on the synthetic benchmark, where the refined fix is within 1.05x).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from apps.acoustics.geometry import inside_hull
from apps.acoustics.sound import wind_shifted_sensors
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


@dataclass(frozen=True)
class MLGFix:
    """A Mathias-Leonardi-Galati solution (no refinement, no weights, no covariance)."""

    x: float
    y: float
    z: float | None  # solved in 3D, the given source height in 2.5D, None in 2D
    t_emit: float
    residuals_s: np.ndarray  # observed minus predicted arrival (wind-shifted sensors)
    wind_iterations: int  # re-solves after shifting the sensors for the wind (0: no wind)

    @property
    def residual_rms_s(self) -> float:
        return float(np.sqrt(np.mean(self.residuals_s**2)))


# Relative singular value below which the MLG system counts as rank deficient.
MLG_RANK_TOLERANCE = 1e-9
MLG_MAX_WIND_ITERATIONS = 10


def _mlg_solve(sensors, times, *, c, source_z, solve_z):
    """One pseudo-inverse solve: ((x, y, z), t_emit), in the sensors' frame.

    For every sensor i, |s_i - p|^2 = (c t_i - c tau)^2 expands to the linear equation
        -2 s_i . p + 2 (c t_i) (c tau) + e = (c t_i)^2 - |s_i|^2,   e = |p|^2 - (c tau)^2,
    over (p, c tau, e) with e treated as one more unknown, so no sensor is a reference.
    Sensors are centred on their mean and times on the earliest arrival first; the
    solution is invariant to both shifts (e absorbs them), which only helps conditioning.
    """
    centre = sensors.mean(axis=0)
    local = sensors - centre
    t_ref = times.min()
    ranges = c * (times - t_ref)
    if solve_z:
        geometry = local
        rhs = ranges**2 - np.sum(local**2, axis=1)
    else:
        geometry = local[:, :2]
        dz = _vertical_offsets(sensors, source_z)
        rhs = ranges**2 - np.sum(geometry**2, axis=1) - dz**2
    matrix = np.column_stack([-2.0 * geometry, 2.0 * ranges, np.ones(len(ranges))])
    # Scale columns so the rank test is about geometry, not units.
    scale = np.abs(matrix).max(axis=0)
    singular = np.linalg.svd(matrix / np.maximum(scale, 1e-300), compute_uv=False)
    if np.any(scale == 0.0) or singular[-1] < MLG_RANK_TOLERANCE * singular[0]:
        what = "sensors in one plane" if solve_z else "collinear sensors"
        raise LocationError(f"degenerate geometry for MLG (e.g. {what} or equal arrival times)")
    solution = (np.linalg.pinv(matrix / scale) @ rhs) / scale
    if not np.all(np.isfinite(solution)):
        raise LocationError("MLG solution is not finite")
    if solve_z:
        position = solution[:3] + centre
        c_tau = solution[3]
    else:
        z = np.nan if source_z is None else float(source_z)
        position = np.array([solution[0] + centre[0], solution[1] + centre[1], z])
        c_tau = solution[2]
    return position, float(t_ref + c_tau / c)


def mlg(
    *,
    sensors,
    times,
    c: float,
    source_z: float | None = None,
    solve_z: bool = False,
    wind_xy=(0.0, 0.0),
) -> MLGFix:
    """Mathias-Leonardi-Galati multilateration, as in TN 098.

    2D (default): horizontal distances, heights ignored; 2.5D: `source_z` given, sensors
    keep their heights; 3D: `solve_z=True`. Unknowns are the position, c*tau and the
    nuisance e (see `_mlg_solve`), solved with the pseudo-inverse over all sensors: at
    least 4 sensors in 2D/2.5D and 5 in 3D. With wind, each sensor is shifted by
    -(t_i - tau) v (TN 098) and the system re-solved until tau settles (1 µs).
    """
    if c <= 0 or not math.isfinite(c):
        raise LocationError("speed of sound must be a positive number of m/s")
    if solve_z and source_z is not None:
        raise LocationError("give either source_z (2.5D) or solve_z (3D), not both")
    sensors, times = _as_arrays(sensors, times)
    needed = 5 if solve_z else 4
    if len(np.unique(sensors[:, :3] if solve_z else sensors[:, :2], axis=0)) < needed:
        raise LocationError(f"MLG needs at least {needed} sensors at distinct positions")
    wind = np.asarray(wind_xy, dtype=float)[:2]
    if not np.all(np.isfinite(wind)):
        raise LocationError("wind must be finite")
    position, t_emit = _mlg_solve(sensors, times, c=c, source_z=source_z, solve_z=solve_z)
    shifted = sensors
    iterations = 0
    while np.any(wind != 0.0) and iterations < MLG_MAX_WIND_ITERATIONS:
        iterations += 1
        shifted = wind_shifted_sensors(
            sensors_xy=sensors, arrival_times=times, t_emit=t_emit, wind_xy=wind
        )
        position, new_t_emit = _mlg_solve(shifted, times, c=c, source_z=source_z, solve_z=solve_z)
        settled = abs(new_t_emit - t_emit) < 1e-6
        t_emit = new_t_emit
        if settled:
            break
    offsets = shifted - position[None, :]
    if solve_z:
        distance = np.linalg.norm(offsets, axis=1)
    else:
        distance = np.sqrt(
            np.sum(offsets[:, :2] ** 2, axis=1) + _vertical_offsets(shifted, source_z) ** 2
        )
    return MLGFix(
        x=float(position[0]),
        y=float(position[1]),
        z=float(position[2]) if (solve_z or source_z is not None) else None,
        t_emit=t_emit,
        residuals_s=(times - t_emit) - distance / c,
        wind_iterations=iterations,
    )


def _model_columns(sensors_x, sensors_y, dz2, rel_times, c: float, wx: float, wy: float):
    """The per-sensor terms of `_model_rows` that do not depend on the source."""
    # q = sensor - (t_i - tau) wind - source: the wavefront drifts with the air.
    drift_x, drift_y = sensors_x - rel_times * wx, sensors_y - rel_times * wy
    return drift_x, drift_y, dz2, c * rel_times, wx / c, wy / c, np.array([-wx / c, -wy / c])


def _model_rows(x: float, y: float, b: float, columns) -> np.ndarray:
    """(4, n): the Jacobian (transposed) and, last, the residuals (m) for the source
    (x, y, b = c * tau).

    `columns` are made once per fit (`_model_columns`): refinement calls this thousands of
    times on a dozen sensors, where each numpy call's overhead outweighs its work, so it
    makes as few calls as it can and works in place."""
    drift_x, drift_y, dz2, ranges, wx_c, wy_c, minus_wind_c = columns
    rows = np.empty((4, len(ranges)))
    qx, qy = rows[0], rows[1]
    np.add(drift_x, b * wx_c - x, out=qx)
    np.add(drift_y, b * wy_c - y, out=qy)
    dist = qx * qx
    dist += qy * qy
    dist += dz2
    np.sqrt(dist, out=dist)
    np.subtract(ranges, dist, out=rows[3])  # observed range minus geometric range
    rows[3] -= b
    rows[:2] /= np.maximum(dist, 1e-9, out=dist)  # d(residual)/dp = +q/|q|
    # d(residual)/db = -1 - (q/|q|) . wind / c
    np.matmul(minus_wind_c, rows[:2], out=rows[2])
    rows[2] -= 1.0
    return rows


def _huber_weights(residual: np.ndarray, huber_m: float) -> np.ndarray:
    """IRLS weights min(1, huber_m / |r|), written as one division (huber_m > 0)."""
    return huber_m / np.maximum(np.abs(residual), huber_m)


def _solve_symmetric_3x3(m, v) -> tuple[float, float, float]:
    """Solve m x = v for a symmetric 3x3 m (nested lists) by Cramer's rule in Python
    floats: np.linalg.solve costs ~15 us of overhead per call on a system this small.
    Raises LocationError when m is singular."""
    (a, b, c), (_, d, e), (_, _, f) = m
    # Cofactors of the symmetric matrix [[a b c] [b d e] [c e f]].
    c00 = d * f - e * e
    c01 = c * e - b * f
    c02 = b * e - c * d
    det = a * c00 + b * c01 + c * c02
    if det == 0.0 or not math.isfinite(det):
        raise LocationError("degenerate sensor geometry (singular normal matrix)")
    c11 = a * f - c * c
    c12 = b * c - a * e
    c22 = a * d - b * b
    v0, v1, v2 = v
    return (
        (c00 * v0 + c01 * v1 + c02 * v2) / det,
        (c01 * v0 + c11 * v1 + c12 * v2) / det,
        (c02 * v0 + c12 * v1 + c22 * v2) / det,
    )


def _huber_covariance(residual, jac, normal, huber_m: float | None, dof: int) -> np.ndarray:
    """Covariance of the (x, y, b) estimate with sigma from the residuals.

    Plain least squares: s^2 (J^T J)^-1. For the Huber fit, sigma^2 (J^T W J)^-1 with the
    fit's own weights understates the spread once residuals pass the threshold (down-
    weighted pulses then look like less noise): 95% ellipses held 79-88% at 5 ms timing
    noise. Huber's asymptotic covariance (Huber 1981, 7.6), K^2 [sum psi^2 / (n - p)] /
    [mean psi']^2 (J^T J)^-1, is the same as least squares while every residual is within
    the threshold and holds 92-97% there.
    """
    n, p = len(residual), 3
    if huber_m is None:
        return float(residual @ residual) / dof * np.linalg.inv(normal)
    magnitude = np.abs(residual)
    inside = int(np.count_nonzero(magnitude <= huber_m))
    if inside == n:  # the common case, and then both forms are plain least squares
        return float(residual @ residual) / dof * np.linalg.inv(normal)
    if inside == 0:  # every residual beyond the threshold: fall back to the IRLS form
        return huber_m * float(magnitude.sum()) / dof * np.linalg.inv(normal)
    share = inside / n
    psi = np.minimum(magnitude, huber_m)
    k = 1.0 + p / n * (1.0 - share) / share  # var(psi') / mean(psi')^2 = (1 - share) / share
    s2 = k**2 * float(psi @ psi) / (n - p) / share**2
    return s2 * np.linalg.inv(jac.T @ jac)


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

    With timing_sigma_s given the covariance is sigma^2 (J^T W J)^-1 and the 95% ellipse
    uses chi-square(2); otherwise it comes from the residuals (Huber's asymptotic form for
    the robust fit, see _huber_covariance) and the ellipse uses 2 F(2, n-3), which allows
    for that estimate's spread.
    """
    sensors, times = _as_arrays(sensors, times)
    n = len(times)
    if n < 3:
        raise LocationError(f"need at least 3 sensors to locate, got {n}")
    t_ref = times.min()
    rel = times - t_ref
    dz = _vertical_offsets(sensors, source_z)
    wind = np.asarray(wind_xy, dtype=float)[:2]
    x, y, b = float(start[0]), float(start[1]), float(c * (start[2] - t_ref))
    wx, wy = float(wind[0]), float(wind[1])
    if huber_s is not None and not huber_s > 0:
        raise LocationError("the Huber threshold must be a positive number of seconds")
    huber_m = None if huber_s is None else huber_s * c
    weights = np.ones(n)
    converged = False
    damping = 0.0
    columns = _model_columns(sensors[:, 0], sensors[:, 1], dz**2, rel, c, wx, wy)
    rows = _model_rows(x, y, b, columns)
    for _ in range(max_iter):
        if huber_m is not None:
            weights = _huber_weights(rows[3], huber_m)
        # One product gives J^T W J, J^T W r and r^T W r (rows: Jacobian, then residual).
        products = ((rows * weights) @ rows.T).tolist()
        normal = [row[:3] for row in products[:3]]
        gradient = products[3][:3]
        cost = products[3][3]
        while True:
            # Levenberg damping scales the diagonal only.
            damped = normal
            if damping:
                damped = [row[:] for row in normal]
                for k in range(3):
                    damped[k][k] *= 1.0 + damping
            dx, dy, db = _solve_symmetric_3x3(damped, gradient)  # minus the step
            trial = (x - dx, y - dy, b - db)
            new_rows = _model_rows(*trial, columns)
            new_residual = new_rows[3]
            new_cost = float(weights @ (new_residual * new_residual))
            if new_cost <= cost * (1 + 1e-12) or damping > 1e6:
                break
            damping = max(damping * 10.0, 1e-3)
        (x, y, b), rows = trial, new_rows
        damping *= 0.1
        if abs(dx) + abs(dy) + abs(db) < 1e-3:  # metres
            converged = True
            break
    residual, jac = rows[3], rows[:3].T
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(b)):
        raise LocationError("location diverged")
    if huber_m is not None:
        weights = _huber_weights(residual, huber_m)
    jw = jac * np.sqrt(weights)[:, None]
    normal = jw.T @ jw
    # Condition number (as np.linalg.cond, without its overhead) above 1e14.
    singular = np.linalg.svd(normal, compute_uv=False)
    if singular[-1] <= 0.0 or singular[0] / singular[-1] > 1e14:
        raise LocationError("degenerate sensor geometry (e.g. collinear sensors)")
    dof = n - 3
    if timing_sigma_s is not None:
        sigma_s = float(timing_sigma_s)
        scale = CHI2_2DOF_95
        cov = (sigma_s * c) ** 2 * np.linalg.inv(normal)
    elif dof > 0:
        scale = ellipse_scale_estimated_sigma(dof)
        cov = _huber_covariance(residual, jac, normal, huber_m, dof)
        sigma_s = math.sqrt(max(np.sum(weights * residual**2) / dof, 0.0)) / c
        if sigma_s < MIN_TIMING_SIGMA_S:
            # Residuals this small are all within the Huber threshold: the plain form.
            sigma_s = MIN_TIMING_SIGMA_S
            cov = (sigma_s * c) ** 2 * np.linalg.inv(normal)
    else:
        # Exactly determined: no residual to estimate the noise from; use the floor.
        sigma_s, scale = MIN_TIMING_SIGMA_S, CHI2_2DOF_95
        cov = (sigma_s * c) ** 2 * np.linalg.inv(normal)
    return Fix(
        x=x,
        y=y,
        z=source_z,
        t_emit=float(t_ref + b / c),
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
