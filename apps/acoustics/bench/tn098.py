"""TN 098's own evaluation reproduced, and what the live-fire data allow beyond it.

TN 098 Table III gives the survey error (distance from the centroid of a firing position's
located shots to its surveyed point) of Mathias-Leonardi-Galati multilateration over
ShotSpotter's pulse sets. Here the published sets (`*.nlos-tuples.json`) and the sets our
association finds are run through `location.mlg` under documented recipe variants
(2D / 2.5D / 3D, speed-of-sound formula, wind shift, centroid of shots or of tests) and,
for contrast, through the default locator (closed form + Huber Gauss-Newton).

Uncertainty of the figures: a cluster bootstrap over tests (shots of one test share
their pulses' propagation paths, so tests, not shots, are the independent draws), the
spread over recipes, and the survey itself (phone GPS, about 2.5 m).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import least_squares

from apps.acoustics.io import read_pulse_input
from apps.acoustics.location import DEFAULT_HUBER_S, LocationError, locate, mlg
from apps.acoustics.sound import DEFAULT_TEMPERATURE_C, speed_of_sound, weather_wind
from apps.acoustics.types import Weather

# TN 098 Table III, MLG column, and Table IV, 2D column: survey error per firing position, m.
TN098_TABLE_III_MLG_M = {"FP1": 2.94, "FP2": 4.03, "FP3": 0.29, "FP4": 4.55}
TN098_TABLE_IV_M = {"FP1": 2.96, "FP2": 3.60, "FP3": 0.36, "FP4": 5.57}
FIRING_POSITIONS = ("FP1", "FP2", "FP3", "FP4")
# The release's survey accuracy ("approximately 2.5 metres"), read as horizontal DRMS.
SURVEY_ACCURACY_M = 2.5
BOOTSTRAP_RESAMPLES = 2000
# Sensor range caps tried on our sets through the TN 098 recipe (sensitivity only).
RANGE_CAP_SWEEP_M = tuple(float(r) for r in range(700, 1010, 10))


def tn098_speed_of_sound(temperature_c: float) -> float:
    """TN 098: c = 20.03 sqrt(T + 273.15) m/s (T in °C)."""
    return 20.03 * math.sqrt(temperature_c + 273.15)


SPEED_FORMULAS = {"tn098": tn098_speed_of_sound, "linear": speed_of_sound}


@dataclass(frozen=True)
class ShotSet:
    """One shot's pulses as arrays, with what scoring needs."""

    firing_position: str
    test: str
    sensors: np.ndarray  # (n, 3) m
    times: np.ndarray  # (n,) epoch s
    weather: Weather | None
    survey_xyz: tuple[float, float, float]
    complete: bool  # every pulse of the set is in allpulses (published sets may not be)
    pulse_uuids: tuple[str, ...] = ()  # of the pulses found in allpulses, in array order


@dataclass(frozen=True)
class Recipe:
    """How a shot is located and how the firing position's centroid is formed."""

    # "mlg"; "refined" (location.locate: closed form + Huber GN); "cauchy" (the same model
    # under a Cauchy loss at the Huber threshold, from the refined fix); "range-weighted"
    # (least squares on range residuals weighted by range ** range_power, from the MLG start).
    estimator: str = "mlg"
    geometry: str = "2d"  # "2d", "2.5d" (shooter at the survey height) or "3d" (MLG only)
    speed: str = "tn098"  # "tn098" (20.03 sqrt(T + 273.15)) or "linear" (331.3 + 0.606 T)
    wind: bool = True  # shift sensors by -(t_i - tau) v
    aggregate: str = "shot"  # "shot": centroid of shots; "test": centroid of test means
    max_range_m: float | None = None  # drop sensors farther than this from the fix, refit
    range_power: float = 2.0  # for "range-weighted" only

    @property
    def label(self) -> str:
        names = {
            "mlg": "MLG",
            "refined": "Huber GN",
            "cauchy": "Cauchy GN",
            "range-weighted": f"LS w=range^{self.range_power:g}",
        }
        parts = [
            names[self.estimator],
            self.geometry.upper(),
            "c=TN098" if self.speed == "tn098" else "c=331.3+0.606T",
            "wind" if self.wind else "no wind",
            "per shot" if self.aggregate == "shot" else "per test",
        ]
        if self.max_range_m is not None:
            parts.append(f"<= {self.max_range_m:.0f} m")
        return " ".join(parts)


TN098_RECIPE = Recipe()


def _sets_from_folder(test, groups: list[list[str]], pulses_by_id) -> list[ShotSet]:
    pulse_input_weather, by_id = pulses_by_id
    survey = test.survey
    sets = []
    for uuids in groups:
        pulses = [by_id[u] for u in uuids if u in by_id]
        sets.append(
            ShotSet(
                firing_position=test.firing_position,
                test=test.name,
                sensors=np.array([[p.x, p.y, p.z] for p in pulses], dtype=float).reshape(-1, 3),
                times=np.array([p.t for p in pulses], dtype=float),
                weather=pulse_input_weather,
                survey_xyz=(survey.x, survey.y, survey.z),
                complete=len(pulses) == len(uuids),
                pulse_uuids=tuple(p.pulse_uuid for p in pulses),
            )
        )
    return sets


def published_shot_sets(tests) -> list[ShotSet]:
    """ShotSpotter's own pulse sets (`*.nlos-tuples.json`), one ShotSet per published shot."""
    sets = []
    for test in tests:
        files = sorted(test.folder.glob("*.nlos-tuples.json"))
        if not files:
            continue
        pulse_input = read_pulse_input(test.folder)
        by_id = {p.pulse_uuid: p for p in pulse_input.pulses}
        groups = [list(shot["pulse_uuids"]) for shot in json.loads(files[0].read_text())]
        sets.extend(_sets_from_folder(test, groups, (pulse_input.weather, by_id)))
    return sets


def association_shot_sets(results) -> list[ShotSet]:
    """The pulse sets of the shots our association detected (livefire.TestResult list)."""
    sets = []
    for result in results:
        pulse_input = read_pulse_input(result.test.folder)
        by_id = {p.pulse_uuid: p for p in pulse_input.pulses}
        groups = [list(shot.pulse_uuids) for shot in result.detected]
        sets.extend(_sets_from_folder(result.test, groups, (pulse_input.weather, by_id)))
    return sets


def _fix_xy(shot: ShotSet, recipe: Recipe, sensors: np.ndarray, times: np.ndarray):
    weather = shot.weather
    temperature = weather.temperature_c if weather is not None else DEFAULT_TEMPERATURE_C
    c = SPEED_FORMULAS[recipe.speed](temperature)
    wind = weather_wind(weather) if recipe.wind else np.zeros(2)
    source_z = shot.survey_xyz[2] if recipe.geometry == "2.5d" else None
    if recipe.estimator == "mlg":
        fix = mlg(
            sensors=sensors,
            times=times,
            c=c,
            source_z=source_z,
            solve_z=recipe.geometry == "3d",
            wind_xy=wind,
        )
    elif recipe.geometry == "3d":
        raise LocationError("only MLG locates in 3D here")
    elif recipe.estimator in ("refined", "cauchy"):
        fix = locate(sensors=sensors, times=times, c=c, source_z=source_z, wind_xy=wind)
        if recipe.estimator == "cauchy":
            return _least_squares_xy(
                sensors, times, c=c, wind=wind, source_z=source_z, start=fix, loss="cauchy"
            )
    else:
        start = mlg(sensors=sensors, times=times, c=c, source_z=source_z, wind_xy=wind)
        return _least_squares_xy(
            sensors, times, c=c, wind=wind, source_z=source_z, start=start, power=recipe.range_power
        )
    return np.array([fix.x, fix.y])


def _least_squares_xy(
    sensors, times, *, c, wind, source_z, start, power: float = 0.0, loss: str = "linear"
) -> np.ndarray:
    """Least squares on range residuals, each weighted by range ** power, under `loss`
    (scipy's names; robust losses scaled at the default locator's Huber threshold).

    MLG's algebraic residual |s - p|^2 - (c t - c tau)^2 is about -2 d (range error), so
    MLG behaves like power 2; power 0 is plain least squares.
    """
    t_ref = times.min()
    dz = np.zeros(len(times)) if source_z is None else sensors[:, 2] - source_z

    def geometry(params):
        delays = times - t_ref - params[2]
        offsets = sensors[:, :2] - delays[:, None] * wind[None, :] - params[None, :2]
        distance = np.sqrt(np.sum(offsets**2, axis=1) + dz**2)
        return delays, offsets, distance

    def residuals(params):
        delays, _, distance = geometry(params)
        return (c * delays - distance) * np.maximum(distance, 1.0) ** (power / 2.0)

    def jacobian(params):  # unweighted (power 0) residuals only
        _, offsets, distance = geometry(params)
        unit = offsets / np.maximum(distance, 1e-9)[:, None]
        return np.column_stack([unit[:, 0], unit[:, 1], -c - unit @ wind])

    solution = least_squares(
        residuals,
        [start.x, start.y, start.t_emit - t_ref],
        jac=jacobian if power == 0 else "2-point",
        x_scale=[1.0, 1.0, 0.003],
        loss=loss,
        f_scale=DEFAULT_HUBER_S * c,
    )
    if not solution.success:
        raise LocationError("least squares on range residuals did not converge")
    return np.array(solution.x[:2])


def locate_set(shot: ShotSet, recipe: Recipe) -> np.ndarray:
    """(x, y) of one shot under the recipe; LocationError when it cannot be located."""
    sensors, times = shot.sensors, shot.times
    xy = _fix_xy(shot, recipe, sensors, times)
    if recipe.max_range_m is not None:
        for _ in range(3):
            keep = np.hypot(*(shot.sensors[:, :2] - xy[None, :]).T) <= recipe.max_range_m
            if keep.sum() < 5:  # keep redundancy; too few near sensors: leave the set whole
                break
            xy = _fix_xy(shot, recipe, shot.sensors[keep], shot.times[keep])
    return xy


@dataclass(frozen=True)
class PositionPoints:
    """Located shots of one firing position, with the test each belongs to."""

    position: str
    survey_xy: np.ndarray
    points: np.ndarray  # (n, 2)
    tests: tuple[str, ...]
    failures: int


def locate_sets(sets: list[ShotSet], recipe: Recipe) -> dict[str, PositionPoints]:
    grouped: dict[str, tuple[list, list, list]] = {}
    surveys = {}
    for shot in sets:
        points, tests, failures = grouped.setdefault(shot.firing_position, ([], [], []))
        surveys[shot.firing_position] = np.array(shot.survey_xyz[:2])
        try:
            points.append(locate_set(shot, recipe))
            tests.append(shot.test)
        except LocationError:
            failures.append(shot.test)
    return {
        position: PositionPoints(
            position=position,
            survey_xy=surveys[position],
            points=np.array(points, dtype=float).reshape(-1, 2),
            tests=tuple(tests),
            failures=len(failures),
        )
        for position, (points, tests, failures) in grouped.items()
    }


def centroid(points: np.ndarray, tests, *, aggregate: str) -> np.ndarray:
    """Centroid of the shots, or of the per-test means (every test weighs the same)."""
    if aggregate == "shot":
        return points.mean(axis=0)
    labels = np.asarray(tests)
    return np.mean([points[labels == t].mean(axis=0) for t in dict.fromkeys(tests)], axis=0)


def survey_error(group: PositionPoints, *, aggregate: str = "shot") -> float:
    if len(group.points) == 0:
        return float("nan")
    return float(
        np.hypot(*(centroid(group.points, group.tests, aggregate=aggregate) - group.survey_xy))
    )


def bootstrap_survey_error(
    group: PositionPoints,
    *,
    aggregate: str = "shot",
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 98,
) -> tuple[float, float]:
    """95% percentile interval of the survey error, resampling whole tests."""
    if len(group.points) == 0:
        return float("nan"), float("nan")
    labels = np.asarray(group.tests)
    unique = list(dict.fromkeys(group.tests))
    members = [np.flatnonzero(labels == t) for t in unique]
    rng = np.random.default_rng(seed)
    errors = np.empty(resamples)
    for i in range(resamples):
        drawn = rng.integers(0, len(unique), len(unique))
        if aggregate == "shot":
            index = np.concatenate([members[j] for j in drawn])
            middle = group.points[index].mean(axis=0)
        else:
            middle = np.mean([group.points[members[j]].mean(axis=0) for j in drawn], axis=0)
        errors[i] = np.hypot(*(middle - group.survey_xy))
    low, high = np.percentile(errors, [2.5, 97.5])
    return float(low), float(high)


def scatter_rms(group: PositionPoints) -> float:
    """RMS distance of the shots from their own centroid: precision, no survey involved."""
    if len(group.points) == 0:
        return float("nan")
    offsets = group.points - group.points.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum(offsets**2, axis=1))))


@dataclass(frozen=True)
class PulseOverlap:
    """How our association's pulse sets differ from ShotSpotter's, pulse by pulse."""

    common: int
    ours_only: int
    published_only: int
    median_range_common_m: float  # sensor to survey point, horizontal
    median_range_ours_only_m: float
    max_range_published_m: float
    median_residual_rms_published_ms: float  # published sets through the TN 098 recipe


def pulse_overlap(published: list[ShotSet], ours: list[ShotSet]) -> PulseOverlap:
    def ranges(sets) -> dict[str, float]:
        return {
            uuid: float(np.hypot(*(sensor[:2] - np.array(shot.survey_xyz[:2]))))
            for shot in sets
            for uuid, sensor in zip(shot.pulse_uuids, shot.sensors, strict=True)
        }

    theirs, mine = ranges(published), ranges(ours)
    common = theirs.keys() & mine.keys()
    residuals = []
    for shot in published:
        weather = shot.weather
        temperature = weather.temperature_c if weather is not None else DEFAULT_TEMPERATURE_C
        try:
            fix = mlg(
                sensors=shot.sensors,
                times=shot.times,
                c=tn098_speed_of_sound(temperature),
                wind_xy=weather_wind(weather),
            )
        except LocationError:
            continue
        residuals.append(fix.residual_rms_s * 1000.0)

    def median(values) -> float:
        return float(np.median(list(values))) if values else float("nan")

    return PulseOverlap(
        common=len(common),
        ours_only=len(mine.keys() - theirs.keys()),
        published_only=len(theirs.keys() - mine.keys()),
        median_range_common_m=median([theirs[u] for u in common]),
        median_range_ours_only_m=median([mine[u] for u in mine.keys() - theirs.keys()]),
        max_range_published_m=max(theirs.values(), default=float("nan")),
        median_residual_rms_published_ms=median(residuals),
    )


def centroid_distance(first: PositionPoints, second: PositionPoints) -> float:
    """Distance between two groups' shot centroids (NaN when either is empty)."""
    if len(first.points) == 0 or len(second.points) == 0:
        return float("nan")
    return float(np.hypot(*(first.points.mean(axis=0) - second.points.mean(axis=0))))


def survey_agreement_probability(radius_m: float, *, accuracy_m: float = SURVEY_ACCURACY_M):
    """P(a perfect locator's centroid lies within radius of the survey point).

    The survey's horizontal error taken as circular Gaussian with DRMS = accuracy_m
    (sigma per axis = accuracy / sqrt 2): P = 1 - exp(-r^2 / accuracy^2).
    """
    return 1.0 - math.exp(-(radius_m**2) / accuracy_m**2)


@dataclass(frozen=True)
class ReproductionRow:
    label: str
    errors_m: dict[str, float]


@dataclass(frozen=True)
class Reproduction:
    rows: list[ReproductionRow]
    published: dict[str, PositionPoints]  # published sets, TN 098 recipe
    ours: dict[str, PositionPoints]  # our association's sets, TN 098 recipe
    published_refined: dict[str, PositionPoints]  # published sets, default locator
    ours_refined: dict[str, PositionPoints]  # our sets, default locator
    recipe_range_m: dict[str, tuple[float, float]]  # min/max survey error over all recipes
    overlap: PulseOverlap
    caps_meeting_table_iv_m: tuple[float, ...]  # of RANGE_CAP_SWEEP_M, for our sets + MLG
    incomplete_published_shots: int
    allowances: dict[str, Allowance]  # empty unless the default pipeline's errors are given


def _errors(groups: dict[str, PositionPoints], aggregate: str) -> dict[str, float]:
    return {fp: survey_error(groups[fp], aggregate=aggregate) for fp in groups}


def recipe_family() -> list[Recipe]:
    """Every documented variant: estimator x geometry x speed x wind x aggregate."""
    recipes = []
    for estimator in ("mlg", "refined"):
        for geometry in ("2d", "2.5d", "3d"):
            if estimator == "refined" and geometry == "3d":
                continue
            for speed in ("tn098", "linear"):
                for wind in (True, False):
                    for aggregate in ("shot", "test"):
                        recipes.append(Recipe(estimator, geometry, speed, wind, aggregate))
    return recipes


def cached_locator(sets: list[ShotSet]):
    """`locate_sets(sets, recipe)` as a function of the recipe, each fix computed once:
    the aggregate does not change the fixes, only the centroid."""
    cache: dict[Recipe, dict[str, PositionPoints]] = {}

    def located(recipe: Recipe) -> dict[str, PositionPoints]:
        key = replace(recipe, aggregate="shot")
        if key not in cache:
            cache[key] = locate_sets(sets, recipe)
        return cache[key]

    return located


def prescribed_family(range_caps_m=(None,)) -> list[Recipe]:
    """Issue 3's locator: closed form refined by robust Gauss-Newton (Huber or Cauchy),
    2D or 2.5D, under every speed / wind / centroid variant and sensor range cap."""
    return [
        Recipe(estimator, geometry, speed, wind, aggregate, max_range_m=cap)
        for estimator in ("refined", "cauchy")
        for geometry in ("2d", "2.5d")
        for speed in ("tn098", "linear")
        for wind in (True, False)
        for aggregate in ("shot", "test")
        for cap in range_caps_m
    ]


@dataclass(frozen=True)
class Allowance:
    """What the data allow at one firing position against Table IV, from our own sets
    (allpulses alone). The best figures are oracles: each is the lowest survey error of
    its family, chosen with the survey known (2.5D even puts the shooter at its height)."""

    position: str
    table_iv_m: float
    default_m: float  # the default pipeline (association's own fits)
    best_robust: tuple[float, str]  # lowest over prescribed_family(), and its recipe
    best_any: tuple[float, str]  # lowest over that and every MLG recipe

    @property
    def verdict(self) -> str:
        if self.default_m <= self.table_iv_m:
            return "met"
        if self.best_robust[0] <= self.table_iv_m:
            return "missed"  # the issue's own locator gets there: a real miss
        # Only MLG (1.57x the Cramer-Rao bound; the target is <= 1.2x) gets closer.
        return "beyond robust GN"


def where_the_data_allow(
    *,
    our_sets: list[ShotSet],
    default_errors_m: dict[str, float],
    range_caps_m=(None,),
    located=None,
) -> dict[str, Allowance]:
    """Table IV per firing position against the default and the best any recipe reaches
    from our association's sets. `located(recipe)` may serve cached fixes."""
    located = located or cached_locator(our_sets)

    def lowest(recipes: list[Recipe]) -> dict[str, tuple[float, str]]:
        best: dict[str, tuple[float, str]] = {}
        for recipe in recipes:
            for fp, error in _errors(located(recipe), recipe.aggregate).items():
                if math.isfinite(error) and error < best.get(fp, (math.inf, ""))[0]:
                    best[fp] = (error, recipe.label)
        return best

    robust = lowest(prescribed_family(range_caps_m))
    mlg_recipes = [
        replace(recipe, max_range_m=cap)
        for recipe in recipe_family()
        if recipe.estimator == "mlg"
        for cap in range_caps_m
    ]
    mlg_best = lowest(mlg_recipes)
    return {
        fp: Allowance(
            position=fp,
            table_iv_m=TN098_TABLE_IV_M[fp],
            default_m=default_errors_m[fp],
            best_robust=robust[fp],
            best_any=min(robust[fp], mlg_best.get(fp, robust[fp])),
        )
        for fp in FIRING_POSITIONS
        if fp in default_errors_m and fp in robust
    }


def published_range_caps_m(published_sets: list[ShotSet]) -> tuple[float, float]:
    """Sensor range caps read off ShotSpotter's own selection (not off the survey errors):
    the 99th percentile and the farthest sensor range in its published sets."""
    ranges = [
        float(np.hypot(*(sensor[:2] - np.array(shot.survey_xyz[:2]))))
        for shot in published_sets
        for sensor in shot.sensors
    ]
    return float(round(np.percentile(ranges, 99))), float(round(max(ranges)))


def reproduce(*, tests, results, default_errors_m: dict[str, float] | None = None) -> Reproduction:
    """Locate published and associated pulse sets under the recipe family."""
    published_sets = published_shot_sets(tests)
    our_sets = association_shot_sets(results)
    complete_sets = [s for s in published_sets if s.complete]
    rows = []
    shown = [
        ("published", TN098_RECIPE),
        ("published", replace(TN098_RECIPE, aggregate="test")),
        ("published", replace(TN098_RECIPE, speed="linear")),
        ("published", replace(TN098_RECIPE, wind=False)),
        ("published", replace(TN098_RECIPE, geometry="2.5d")),
        ("published", replace(TN098_RECIPE, geometry="3d")),
        ("published", replace(TN098_RECIPE, estimator="refined")),
        ("published", replace(TN098_RECIPE, estimator="range-weighted", range_power=0.0)),
        ("published", replace(TN098_RECIPE, estimator="range-weighted", range_power=1.0)),
        ("published", replace(TN098_RECIPE, estimator="range-weighted", range_power=2.0)),
        # Closest to Table IV (2D): that table appears to leave out the wind shift.
        ("published", replace(TN098_RECIPE, speed="linear", wind=False, aggregate="test")),
        ("complete", TN098_RECIPE),
        ("ours", TN098_RECIPE),
        ("ours", replace(TN098_RECIPE, wind=False)),
        ("ours", replace(TN098_RECIPE, estimator="refined")),
    ]
    caps = published_range_caps_m(published_sets) if published_sets else ()
    for cap in caps:
        shown.append(("ours", replace(TN098_RECIPE, max_range_m=cap)))
    which = {"published": published_sets, "complete": complete_sets, "ours": our_sets}
    names = {
        "published": "SST sets",
        "complete": "SST sets, complete",
        "ours": "our sets",
    }
    locators = {kind: cached_locator(sets) for kind, sets in which.items()}

    def located(kind: str, recipe: Recipe) -> dict[str, PositionPoints]:
        return locators[kind](recipe)

    for kind, recipe in shown:
        groups = located(kind, recipe)
        rows.append(
            ReproductionRow(f"{names[kind]}: {recipe.label}", _errors(groups, recipe.aggregate))
        )
    spread: dict[str, list[float]] = {fp: [] for fp in FIRING_POSITIONS}
    for kind in ("published", "ours"):
        for recipe in recipe_family():
            for fp, error in _errors(located(kind, recipe), recipe.aggregate).items():
                spread[fp].append(error)
    window = [
        cap
        for cap in RANGE_CAP_SWEEP_M
        if all(
            error <= TN098_TABLE_IV_M.get(fp, -1.0)
            for fp, error in _errors(
                located("ours", replace(TN098_RECIPE, max_range_m=cap)), "shot"
            ).items()
        )
    ]
    allowances = {}
    if default_errors_m is not None:
        allowances = where_the_data_allow(
            our_sets=our_sets,
            default_errors_m=default_errors_m,
            range_caps_m=(None, *caps),
            located=lambda recipe: located("ours", recipe),
        )
    return Reproduction(
        allowances=allowances,
        caps_meeting_table_iv_m=tuple(window),
        rows=rows,
        published=located("published", TN098_RECIPE),
        ours=located("ours", TN098_RECIPE),
        published_refined=located("published", replace(TN098_RECIPE, estimator="refined")),
        ours_refined=located("ours", replace(TN098_RECIPE, estimator="refined")),
        recipe_range_m={fp: (min(v), max(v)) for fp, v in spread.items() if v},
        incomplete_published_shots=len(published_sets) - len(complete_sets),
        overlap=pulse_overlap(published_sets, our_sets),
    )


def run(*, tests, results, default_errors_m=None, out=print) -> Reproduction:
    """Print the reproduction tables (called by the live-fire benchmark)."""
    result = reproduce(tests=tests, results=results, default_errors_m=default_errors_m)
    positions = [fp for fp in FIRING_POSITIONS if fp in result.published or fp in result.ours]
    nan = float("nan")
    empty = PositionPoints("", np.zeros(2), np.zeros((0, 2)), (), 0)
    width = max(48, *(len(row.label) + 1 for row in result.rows))

    def line(label: str, values) -> str:
        return f"{label:<{width}}" + "".join(f" {v:>5.2f}" for v in values)

    out("TN 098 evaluation reproduced: survey error (m) of the centroid, 2D distance")
    out(f"{'':<{width}}" + "".join(f" {fp:>5}" for fp in positions))
    out(line("TN 098 Table III (MLG)", [TN098_TABLE_III_MLG_M[fp] for fp in positions]))
    out(line("TN 098 Table IV (2D)", [TN098_TABLE_IV_M[fp] for fp in positions]))
    for row in result.rows:
        out(line(row.label, [row.errors_m.get(fp, float("nan")) for fp in positions]))
    out(
        line(
            "min over all recipes",
            [result.recipe_range_m.get(fp, (nan, nan))[0] for fp in positions],
        )
    )
    out(
        line(
            "max over all recipes",
            [result.recipe_range_m.get(fp, (nan, nan))[1] for fp in positions],
        )
    )
    for name, groups in (("SST sets", result.published), ("our sets", result.ours)):
        intervals = [bootstrap_survey_error(groups.get(fp, empty)) for fp in positions]
        out(
            f"{f'95% CI, {name}, MLG (tests resampled)':<{width}}"
            + "".join(f" {lo:.1f}-{hi:.1f}" for lo, hi in intervals)
        )
    gaps = [
        centroid_distance(result.ours.get(fp, empty), result.published.get(fp, empty))
        for fp in positions
    ]
    out(line("our centroid to SST centroid (MLG)", gaps))
    for name, groups in (
        ("scatter RMS, SST sets, MLG", result.published),
        ("scatter RMS, SST sets, Huber GN", result.published_refined),
        ("scatter RMS, our sets, MLG", result.ours),
        ("scatter RMS, our sets, Huber GN", result.ours_refined),
    ):
        out(line(name, [scatter_rms(groups.get(fp, empty)) for fp in positions]))
    out(
        line(
            "P(perfect locator <= Table IV | survey 2.5 m)",
            [survey_agreement_probability(TN098_TABLE_IV_M[fp]) for fp in positions],
        )
    )
    window = result.caps_meeting_table_iv_m
    out(
        f"sensor range caps meeting Table IV at every FP with our sets + MLG "
        f"({RANGE_CAP_SWEEP_M[0]:.0f}-{RANGE_CAP_SWEEP_M[-1]:.0f} m, step 10): "
        + (", ".join(f"{cap:.0f}" for cap in window) if window else "none")
    )
    overlap = result.overlap
    out(
        f"pulses: {overlap.common} in both sets, {overlap.ours_only} only in ours (median "
        f"{overlap.median_range_ours_only_m:.0f} m from the survey point; common "
        f"{overlap.median_range_common_m:.0f} m), {overlap.published_only} only in SST sets "
        f"(farthest {overlap.max_range_published_m:.0f} m); SST sets' MLG residual RMS, "
        f"median shot: {overlap.median_residual_rms_published_ms:.1f} ms"
    )
    out(
        f"(SST sets: ShotSpotter's published pulse sets; {result.incomplete_published_shots} of "
        "them name pulses missing from allpulses ('complete' leaves those shots out); "
        "2.5D puts the shooter at the survey height; recipes: "
        f"{len(recipe_family())} per pulse-set source)"
    )
    if result.allowances:
        print_allowances(result.allowances, out=out)
    return result


def print_allowances(allowances: dict[str, Allowance], *, out=print) -> None:
    out()
    out("Table IV where the data allow: our sets (allpulses alone), lowest of each family")
    out(f"{'FP':<4} {'Table IV':>8} {'default':>8} {'robust GN':>9} {'+ MLG':>6}  verdict")
    for a in allowances.values():
        out(
            f"{a.position:<4} {a.table_iv_m:>8.2f} {a.default_m:>8.2f} "
            f"{a.best_robust[0]:>9.2f} {a.best_any[0]:>6.2f}  {a.verdict}"
        )
    for a in allowances.values():
        out(f"  {a.position}: robust GN: {a.best_robust[1]}; + MLG: {a.best_any[1]}")
    out(
        "(robust GN: closed form + Huber or Cauchy Gauss-Newton, issue 3's locator, 2D/2.5D, "
        "every speed, wind and centroid variant, no range cap or ShotSpotter's two; + MLG: "
        "the same with MLG 2D/2.5D/3D, 1.57x the Cramer-Rao bound; 2.5D puts the shooter at "
        "the survey height, so both are oracles. Verdict: met, missed (robust GN reaches "
        "Table IV) or beyond robust GN)"
    )
