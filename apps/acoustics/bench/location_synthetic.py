"""Synthetic location benchmark: Gaussian timing noise only, against the Cramér-Rao bound.

A simple array generator (sensors scattered over a square, sources inside the array) and
exact arrival times plus independent Gaussian noise. With nothing but that noise, an
efficient estimator's RMS error approaches the bound and its 95% ellipses hold 95% of the
true positions. No association here: each trial's pulses are one shot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from apps.acoustics.location import (
    CHI2_2DOF_95,
    LocationError,
    cramer_rao_bound,
    locate,
    mlg,
)


@dataclass(frozen=True)
class SyntheticArray:
    sensors: np.ndarray  # (n, 3) metres
    source: np.ndarray  # (2,) metres
    t_emit: float


def random_array(
    rng: np.random.Generator, *, n_sensors: int = 8, size_m: float = 1500.0
) -> SyntheticArray:
    """Sensors uniform over a size x size square (heights 0-30 m), source in the middle half."""
    sensors = np.column_stack(
        [rng.uniform(0.0, size_m, (n_sensors, 2)), rng.uniform(0.0, 30.0, n_sensors)]
    )
    source = rng.uniform(0.25 * size_m, 0.75 * size_m, 2)
    return SyntheticArray(sensors=sensors, source=source, t_emit=1.545e9 + rng.uniform(0, 1e5))


def arrival_times(array: SyntheticArray, *, c: float) -> np.ndarray:
    distance = np.hypot(*(array.sensors[:, :2] - array.source[None, :]).T)
    return array.t_emit + distance / c


@dataclass(frozen=True)
class SyntheticLocationResult:
    trials: int
    failures: int
    rms_error_m: float
    crb_rms_m: float  # sqrt(mean trace of the bound) over the same trials
    ratio: float
    coverage: float  # share of true positions inside the 95% ellipse (known sigma)
    coverage_estimated_sigma: float  # same with sigma estimated from residuals
    fixes_per_second: float


def run_trials(
    *,
    trials: int = 2000,
    sigma_s: float = 0.001,
    n_sensors: int = 8,
    c: float = 340.0,
    seed: int = 20240,
    huber_s: float | None = None,
    estimator: str = "refined",
) -> SyntheticLocationResult:
    """Locate `trials` random geometries; plain least squares unless huber_s is given.

    estimator "mlg" runs Mathias-Leonardi-Galati alone (TN 098's evaluation): no
    covariance, so its coverage is NaN.
    """
    if estimator not in ("refined", "mlg"):
        raise ValueError(f"unknown estimator {estimator!r}")
    rng = np.random.default_rng(seed)
    squared_errors, bound_traces = [], []
    inside_known, inside_estimated = 0, 0
    failures = 0
    elapsed = 0.0
    for _ in range(trials):
        array = random_array(rng, n_sensors=n_sensors)
        times = arrival_times(array, c=c) + rng.normal(0.0, sigma_s, n_sensors)
        start = time.perf_counter()
        if estimator == "mlg":
            try:
                algebraic = mlg(sensors=array.sensors, times=times, c=c)
            except LocationError:
                failures += 1
                continue
            elapsed += time.perf_counter() - start
            error = np.array([algebraic.x, algebraic.y]) - array.source
            squared_errors.append(error @ error)
            bound = cramer_rao_bound(
                sensors=array.sensors, source=array.source, c=c, sigma_s=sigma_s
            )
            bound_traces.append(np.trace(bound))
            continue
        try:
            fix = locate(
                sensors=array.sensors, times=times, c=c, huber_s=huber_s, timing_sigma_s=sigma_s
            )
            fix_estimated = locate(sensors=array.sensors, times=times, c=c, huber_s=huber_s)
        except LocationError:
            failures += 1
            continue
        elapsed += time.perf_counter() - start
        error = np.array([fix.x, fix.y]) - array.source
        squared_errors.append(error @ error)
        bound = cramer_rao_bound(sensors=array.sensors, source=array.source, c=c, sigma_s=sigma_s)
        bound_traces.append(np.trace(bound))
        inside_known += error @ np.linalg.solve(fix.cov_xy, error) <= CHI2_2DOF_95
        error_e = np.array([fix_estimated.x, fix_estimated.y]) - array.source
        inside_estimated += (
            error_e @ np.linalg.solve(fix_estimated.cov_xy, error_e) <= fix_estimated.ellipse_scale
        )
    located = len(squared_errors)
    rms = float(np.sqrt(np.mean(squared_errors))) if located else float("nan")
    crb = float(np.sqrt(np.mean(bound_traces))) if located else float("nan")
    return SyntheticLocationResult(
        trials=trials,
        failures=failures,
        rms_error_m=rms,
        crb_rms_m=crb,
        ratio=rms / crb if located else float("nan"),
        coverage=inside_known / max(located, 1) if estimator == "refined" else float("nan"),
        coverage_estimated_sigma=(
            inside_estimated / max(located, 1) if estimator == "refined" else float("nan")
        ),
        fixes_per_second=(
            (2 if estimator == "refined" else 1) * located / elapsed
            if elapsed > 0
            else float("nan")
        ),
    )


def run(*, quick: bool = False, out=print) -> list[SyntheticLocationResult]:
    trials = 500 if quick else 2000
    out(f"Synthetic location, Gaussian timing noise only ({trials} random 8-sensor arrays)")
    out(
        f"{'sigma ms':>8} {'estimator':>10} {'RMS m':>7} {'CRB m':>7} {'RMS/CRB':>7} "
        f"{'cover95 known':>13} {'cover95 est':>11} {'fixes/s':>8}"
    )
    results = []
    for sigma_ms in (0.3, 1.0, 3.0):
        for name, huber, estimator in (
            ("LS", None, "refined"),
            ("Huber", 0.0025, "refined"),
            ("MLG", None, "mlg"),
        ):
            result = run_trials(
                trials=trials, sigma_s=sigma_ms / 1000.0, huber_s=huber, estimator=estimator
            )
            results.append(result)
            out(
                f"{sigma_ms:>8.1f} {name:>10} {result.rms_error_m:>7.3f} {result.crb_rms_m:>7.3f} "
                f"{result.ratio:>7.3f} {_percent(result.coverage):>13} "
                f"{_percent(result.coverage_estimated_sigma):>11} {result.fixes_per_second:>8.0f}"
            )
    out("(MLG: Mathias-Leonardi-Galati alone, TN 098's evaluation; no covariance, no ellipse)")
    return results


def _percent(share: float) -> str:
    return "-" if np.isnan(share) else f"{100 * share:.1f}%"


# -- scenarios for association: shots, coherent echoes (image sources), random bangs ------


@dataclass(frozen=True)
class Scenario:
    pulses: list  # list[Pulse], time order
    shots: list[tuple[float, float, float]]  # true (x, y, t_emit)
    shot_pulse_ids: list[frozenset[str]]  # direct-path pulses of each shot


def grid_sensors(rng: np.random.Generator, *, n: int = 16, spacing_m: float = 400.0) -> np.ndarray:
    """Sensors on a jittered square grid (as deployed arrays roughly are), heights 0-20 m."""
    side = int(np.ceil(np.sqrt(n)))
    cells = np.array([(i % side, i // side) for i in range(n)], dtype=float) * spacing_m
    jitter = rng.uniform(-0.25, 0.25, (n, 2)) * spacing_m
    return np.column_stack([cells + jitter, rng.uniform(0.0, 20.0, n)])


def make_scenario(
    rng: np.random.Generator,
    *,
    sensors: np.ndarray,
    shots: list[tuple[float, float, float]],
    c: float = 340.0,
    sigma_s: float = 0.001,
    source_level_db: float = 140.0,
    detection_floor_db: float = 62.0,
    reflectors_per_shot: int = 2,
    echo_probability: float = 0.7,
    random_pulses: int = 0,
    miss_probability: float = 0.05,
) -> Scenario:
    """Pulses a server would receive: direct arrivals (Gaussian timing noise), echoes from
    mirror-image sources (later, 3-15 dB weaker, coherent across sensors) and random bangs.
    Times are seconds since the epoch; a sensor hears a pulse above the floor."""
    from apps.acoustics.types import Pulse  # local: keeps the module's public surface small

    pulses, shot_ids = [], []
    counter = 0

    def add(sensor: int, t: float, level: float) -> str:
        nonlocal counter
        counter += 1
        uid = f"p{counter:06d}"
        x, y, z = sensors[sensor]
        pulses.append(
            Pulse(
                pulse_uuid=uid,
                sensor_id=f"S{sensor:03d}",
                t=float(t),
                x=float(x),
                y=float(y),
                z=float(z),
                power_db_spl=float(level),
                snr_db=float(level - 55.0),
            )
        )
        return uid

    for sx, sy, t_emit in shots:
        ids = set()
        distances = np.hypot(sensors[:, 0] - sx, sensors[:, 1] - sy)
        levels = source_level_db - 20 * np.log10(np.maximum(distances, 1.0))
        for k, (d, level) in enumerate(zip(distances, levels, strict=True)):
            if level < detection_floor_db or rng.random() < miss_probability:
                continue
            ids.add(add(k, t_emit + d / c + rng.normal(0.0, sigma_s), level + rng.normal(0, 1)))
        shot_ids.append(frozenset(ids))
        for _ in range(reflectors_per_shot):
            # A wall 20-150 m from the shooter: the echo comes from the mirror image.
            angle = rng.uniform(0, 2 * np.pi)
            wall = rng.uniform(20.0, 150.0)
            image = np.array([sx, sy]) + 2 * wall * np.array([np.cos(angle), np.sin(angle)])
            loss = rng.uniform(3.0, 15.0)
            echo_d = np.hypot(sensors[:, 0] - image[0], sensors[:, 1] - image[1])
            for k, (d, level) in enumerate(zip(echo_d, levels, strict=True)):
                if d < distances[k]:
                    continue  # beyond the wall: the wall blocks its own reflection
                if level - loss < detection_floor_db or rng.random() > echo_probability:
                    continue
                add(k, t_emit + d / c + rng.normal(0.0, sigma_s), level - loss)
    if shots:
        t_lo = min(t for _, _, t in shots) - 2.0
        t_hi = max(t for _, _, t in shots) + 5.0
    else:
        t_lo, t_hi = 1.6e9, 1.6e9 + 10.0
    for _ in range(random_pulses):
        add(int(rng.integers(len(sensors))), rng.uniform(t_lo, t_hi), rng.uniform(62.0, 90.0))
    pulses.sort(key=lambda p: p.t)
    return Scenario(pulses=pulses, shots=list(shots), shot_pulse_ids=shot_ids)


@dataclass(frozen=True)
class AssociationBenchRow:
    kind: str
    scenarios: int
    true_shots: int
    found: int
    located: int
    false_shots: int
    p50_error_m: float

    @property
    def recall(self) -> float:
        return self.found / max(self.true_shots, 1)

    @property
    def precision(self) -> float:
        return (self.located - self.false_shots) / max(self.located, 1)


SCENARIO_KINDS = {
    "single shot": lambda x, y, t: [(x, y, t)],
    "burst, 65 ms": lambda x, y, t: [(x, y, t + k * 0.065) for k in range(4)],
    "burst, 0.6 s": lambda x, y, t: [(x, y, t + k * 0.6) for k in range(3)],
    "2 sources at once": lambda x, y, t: [(x, y, t), (1200.0 - x, 1200.0 - y, t + 0.003)],
}


def run_association_trials(
    *, scenarios_per_kind: int = 50, seed: int = 777, dense: bool = False
) -> list[AssociationBenchRow]:
    """Recall/precision of associate() on generated scenarios (Gaussian timing, echoes,
    random bangs). `dense`: four reflectors per shot heard by 90% of sensors, 60 bangs."""
    from apps.acoustics.association import associate

    rng = np.random.default_rng(seed)
    c = 340.0
    rows = []
    for kind, make_shots in SCENARIO_KINDS.items():
        true_shots = found = located = false_shots = 0
        errors = []
        for trial in range(scenarios_per_kind):
            sensors = grid_sensors(rng)
            x, y = rng.uniform(250.0, 950.0, 2)
            truth = make_shots(x, y, 1.6e9 + 100.0 * trial)
            case = make_scenario(
                rng,
                sensors=sensors,
                shots=truth,
                c=c,
                reflectors_per_shot=4 if dense else 2,
                echo_probability=0.9 if dense else 0.7,
                random_pulses=60 if dense else 30,
            )
            shots = associate(case.pulses, c=c)
            matched = set()
            for shot in shots:
                hit = next(
                    (
                        k
                        for k, (tx, ty, tt) in enumerate(truth)
                        if k not in matched
                        and abs(shot.t_emit - tt) < 0.02
                        and np.hypot(shot.x - tx, shot.y - ty) < 15.0
                    ),
                    None,
                )
                if hit is None:
                    false_shots += 1
                else:
                    matched.add(hit)
                    errors.append(np.hypot(shot.x - truth[hit][0], shot.y - truth[hit][1]))
            true_shots += len(truth)
            found += len(matched)
            located += len(shots)
        rows.append(
            AssociationBenchRow(
                kind=kind,
                scenarios=scenarios_per_kind,
                true_shots=true_shots,
                found=found,
                located=located,
                false_shots=false_shots,
                p50_error_m=float(np.median(errors)) if errors else float("nan"),
            )
        )
    return rows


def run_association(*, quick: bool = False, out=print) -> list[AssociationBenchRow]:
    per_kind = 15 if quick else 50
    rows = []
    for dense in (False, True):
        label = (
            "dense echoes (4 walls, 90% of sensors), 60 bangs"
            if dense
            else ("echoes (2 walls, 70% of sensors), 30 bangs")
        )
        out(f"Synthetic association, 16-sensor arrays, 1 ms timing noise, {label}")
        out(f"{'scenario':<18} {'shots':>6} {'recall':>7} {'precision':>9} {'p50 err m':>9}")
        for row in run_association_trials(scenarios_per_kind=per_kind, dense=dense):
            rows.append(row)
            out(
                f"{row.kind:<18} {row.true_shots:>6} {row.recall:>7.3f} {row.precision:>9.3f} "
                f"{row.p50_error_m:>9.2f}"
            )
    return rows
