"""The ShotSpotter Pittsburgh live-fire tests (TN 098), located from allpulses alone.

Skips when the shared data is absent. The survey and ShotSpotter's published tuples are
read only here, for scoring. Thresholds are the measured figures plus a small margin.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
from django.core.management import call_command

from apps.acoustics.bench import tn098
from apps.acoustics.bench.livefire import (
    default_livefire_root,
    find_tests,
    run_tests,
    summarise,
)

# Measured survey error (centroid of located shots to survey point, m) per firing
# position, 2D: FP1 3.16, FP2 5.03, FP3 1.51, FP4 4.61 (TN 098 Table IV: 2.96, 3.60,
# 0.36, 5.57; ShotSpotter's own published pulse sets through the same locator: 3.61,
# 4.92, 1.87, 5.11; the survey itself is phone GPS, ~2.5 m). Largest shot error 6.4 m.
SURVEY_ERROR_LIMIT_M = {"FP1": 3.5, "FP2": 5.5, "FP3": 1.8, "FP4": 5.0}


@pytest.fixture(scope="module")
def livefire_tests():
    root = default_livefire_root()  # $SHOTSPOTTER_SHARED_DATA or <repo>/../shared/data
    if not root.is_dir():
        pytest.skip(f"live-fire data not present at {root}")
    tests = find_tests(root)
    assert len(tests) == 72
    return tests


@pytest.fixture(scope="module")
def livefire_results(livefire_tests):
    results, _ = run_tests(livefire_tests)
    return results


@pytest.fixture(scope="module")
def published_sets(livefire_tests):
    return tn098.published_shot_sets(livefire_tests)


def published_shots(folder) -> int:
    """How many shots ShotSpotter's own grouping found (nlos-tuples): what the data allow."""
    (path,) = folder.glob("*.nlos-tuples.json")
    return len(json.loads(path.read_text()))


def test_every_shot_the_data_allow_is_detected(livefire_results):
    for result in livefire_results:
        test = result.test
        expected = min(test.survey.rounds, published_shots(test.folder))
        assert len(result.detected) >= expected, f"{test.folder}: {len(result.detected)}"
    fired = sum(r.test.survey.rounds for r in livefire_results)
    detected = sum(len(r.detected) for r in livefire_results)
    # FP4/test_055's first round is heard by 4 sensors only (2 shots in ShotSpotter's own
    # grouping); burst completion by template finds it from the test's other two rounds.
    assert detected == fired


def test_every_located_shot_is_within_15_m_of_the_survey(livefire_results):
    errors = [e for r in livefire_results for e in r.errors_m]
    assert len(errors) == 144
    assert max(errors) < 15.0
    assert max(errors) < 8.0  # measured 6.4 m


def test_ghost_events_are_at_most_5_percent(livefire_results):
    events = sum(len(r.shots) for r in livefire_results)
    ghosts = sum(len(r.ghosts) for r in livefire_results)
    assert ghosts <= 0.05 * events  # measured: 0 of 144


def test_survey_error_per_firing_position(livefire_results):
    rows = {row.position: row for row in summarise(livefire_results)}
    assert set(rows) == set(SURVEY_ERROR_LIMIT_M)
    for position, limit in SURVEY_ERROR_LIMIT_M.items():
        assert rows[position].survey_error_m <= limit, position


def test_each_shot_uses_at_most_one_pulse_per_sensor(livefire_results):
    for result in livefire_results:
        for shot in result.shots:
            assert len(set(shot.sensor_ids)) == len(shot.sensor_ids)
        used = [u for shot in result.shots for u in shot.pulse_uuids]
        assert len(used) == len(set(used))


def test_bench_command_prints_the_live_fire_table(livefire_results):
    out = io.StringIO()
    call_command("bench_acoustics", "--only", "livefire", "--quick", stdout=out)
    text = out.getvalue()
    assert "TN098 IV" in text and "tests/s" in text
    assert "TN 098 evaluation reproduced" in text and "TN 098 Table III (MLG)" in text
    for position in ("FP1", "FP2", "FP3", "FP4"):
        assert any(line.startswith(position) for line in text.splitlines())


def test_bench_command_skips_missing_live_fire_data(tmp_path):
    out = io.StringIO()
    call_command(
        "bench_acoustics", "--only", "livefire", "--data", str(tmp_path / "none"), stdout=out
    )
    assert "no data at" in out.getvalue()


def survey_errors(sets, recipe=tn098.TN098_RECIPE) -> dict[str, float]:
    groups = tn098.locate_sets(sets, recipe)
    return {fp: tn098.survey_error(g, aggregate=recipe.aggregate) for fp, g in groups.items()}


def test_tn098_table_iii_is_reproduced_from_the_published_pulse_sets(published_sets):
    # MLG, 2D, c = 20.03 sqrt(T + 273.15) from weather.json, wind shift, centroid of all
    # published shots. Measured 2.94 / 3.85 / 0.29 / 4.66 (Table III: 2.94 / 4.03 / 0.29 /
    # 4.55). FP2: four published shots name pulses that allpulses lacks; without them 4.00.
    # FP4: the wind moves the centroid by 0.9 m (5.50 without it), the only FP with wind.
    assert len(published_sets) == 143
    errors = survey_errors(published_sets)
    table = tn098.TN098_TABLE_III_MLG_M
    assert errors["FP1"] == pytest.approx(table["FP1"], abs=0.01)
    assert errors["FP3"] == pytest.approx(table["FP3"], abs=0.01)
    assert errors["FP2"] == pytest.approx(table["FP2"], abs=0.20)
    assert errors["FP4"] == pytest.approx(table["FP4"], abs=0.15)
    complete = [s for s in published_sets if s.complete]
    assert len(complete) == 136
    complete_fp2 = survey_errors([s for s in complete if s.firing_position == "FP2"])["FP2"]
    assert complete_fp2 == pytest.approx(table["FP2"], abs=0.05)
    no_wind = survey_errors(published_sets, replace(tn098.TN098_RECIPE, wind=False))
    assert no_wind["FP4"] - errors["FP4"] > 0.5
    assert no_wind["FP1"] == pytest.approx(errors["FP1"], abs=1e-9)  # no wind at FP1


def test_table_iv_is_close_to_mlg_without_the_wind_shift(published_sets):
    # Found by searching 48 algebraic variants, so weaker evidence than Table III: MLG 2D,
    # c = 331.3 + 0.606 T, no wind, centroid of test means gives 2.89 / 3.69 / 0.43 / 5.47
    # (Table IV 2.96 / 3.60 / 0.36 / 5.57). With the wind shift FP4 drops to 4.7.
    recipe = replace(tn098.TN098_RECIPE, speed="linear", wind=False, aggregate="test")
    errors = survey_errors(published_sets, recipe)
    for fp, published in tn098.TN098_TABLE_IV_M.items():
        assert errors[fp] == pytest.approx(published, abs=0.12), fp


def test_only_the_2d_mlg_recipe_reproduces_table_iii(published_sets):
    # The same sets in 3D or through the default (Huber Gauss-Newton) locator miss FP3 by
    # more than a metre: Table III is a property of the recipe, not only of the data.
    for recipe in (
        replace(tn098.TN098_RECIPE, geometry="3d"),
        replace(tn098.TN098_RECIPE, estimator="refined"),
    ):
        assert survey_errors(published_sets, recipe)["FP3"] > 1.5, recipe.label


def test_the_gap_is_the_range_weighting(published_sets):
    # MLG's algebraic residual is about -2 x range x range error: least squares on range
    # residuals weighted by range^2 lands within 0.15 m of MLG at every firing position
    # (2.86 / 4.00 / 0.26 / 4.69), unweighted least squares 2 m off at FP3 (2.30).
    mlg_errors = survey_errors(published_sets)
    squared = survey_errors(
        published_sets, replace(tn098.TN098_RECIPE, estimator="range-weighted", range_power=2)
    )
    for fp, error in mlg_errors.items():
        assert squared[fp] == pytest.approx(error, abs=0.2), fp
    flat = survey_errors(
        published_sets, replace(tn098.TN098_RECIPE, estimator="range-weighted", range_power=0)
    )
    assert flat["FP3"] - squared["FP3"] > 1.5


def test_our_association_through_the_tn098_recipe(livefire_results):
    # Our pulse sets (3 more sensors per shot than ShotSpotter's, mostly 850-1000 m away)
    # through the same MLG recipe: FP1 2.89 and FP4 4.16 meet Table IV; FP2 3.92 and FP3
    # 0.89 do not (Table IV 3.60 / 0.36), 0.6 and 1.1 m from ShotSpotter's own centroid.
    ours = tn098.locate_sets(tn098.association_shot_sets(livefire_results), tn098.TN098_RECIPE)
    assert sum(len(g.points) for g in ours.values()) == 144
    assert all(g.failures == 0 for g in ours.values())
    errors = {fp: tn098.survey_error(g) for fp, g in ours.items()}
    assert errors["FP1"] <= tn098.TN098_TABLE_IV_M["FP1"]
    assert errors["FP4"] <= tn098.TN098_TABLE_IV_M["FP4"]
    published = tn098.locate_sets(
        tn098.published_shot_sets([r.test for r in livefire_results]), tn098.TN098_RECIPE
    )
    for fp, group in ours.items():
        gap = np.hypot(*(group.points.mean(axis=0) - published[fp].points.mean(axis=0)))
        assert gap < 1.3, fp


def test_bootstrap_interval_contains_the_figure(published_sets):
    group = tn098.locate_sets(published_sets, tn098.TN098_RECIPE)["FP1"]
    low, high = tn098.bootstrap_survey_error(group, resamples=500)
    assert low <= tn098.survey_error(group) <= high
    assert 0.0 < high - low < 1.5


def test_centroid_per_test_weighs_every_test_equally():
    group = tn098.PositionPoints(
        position="FP9",
        survey_xy=np.array([0.0, 0.0]),
        points=np.array([[3.0, 0.0], [3.0, 0.0], [3.0, 0.0], [0.0, 4.0]]),
        tests=("a", "a", "a", "b"),
        failures=0,
    )
    assert tn098.survey_error(group) == pytest.approx(np.hypot(2.25, 1.0))
    assert tn098.survey_error(group, aggregate="test") == pytest.approx(np.hypot(1.5, 2.0))
    # Resampling whole tests: draws are {a, b} (half the time, the full centroid), {a, a}
    # (3 m) or {b, b} (4 m), so the 95% interval runs from the full figure to test b's.
    low, high = tn098.bootstrap_survey_error(group, resamples=400)
    assert low == pytest.approx(np.hypot(2.25, 1.0)) and high == pytest.approx(4.0)


def test_survey_agreement_probability_of_a_perfect_locator():
    # Phone GPS with 2.5 m DRMS: a perfect locator lands within 0.36 m of the survey 2% of
    # the time, within 2.5 m 63% of the time.
    assert tn098.survey_agreement_probability(0.36) == pytest.approx(0.0205, abs=1e-3)
    assert tn098.survey_agreement_probability(2.5) == pytest.approx(1 - np.exp(-1))
    assert tn098.survey_agreement_probability(0.0) == 0.0


def test_table_iv_is_met_wherever_the_issues_locator_reaches_it(livefire_results):
    # Issue 3: "at or below Table IV where the data allow". From our sets (allpulses
    # alone), the issue's locator (closed form + Huber or Cauchy Gauss-Newton, 2D/2.5D,
    # every speed, wind and centroid variant) at its best, chosen with the survey known:
    # FP1 3.00, FP2 4.94, FP3 1.48, FP4 4.51 (Table IV 2.96 / 3.60 / 0.36 / 5.57). So the
    # default must meet FP4 and may miss only where no such variant reaches Table IV; only
    # MLG, 1.57x the Cramer-Rao bound, gets closer (FP1 2.50, FP2 3.87, FP3 0.52).
    default = {row.position: row.survey_error_m for row in summarise(livefire_results)}
    allowances = tn098.where_the_data_allow(
        our_sets=tn098.association_shot_sets(livefire_results), default_errors_m=default
    )
    assert set(allowances) == {"FP1", "FP2", "FP3", "FP4"}
    verdicts = {fp: a.verdict for fp, a in allowances.items()}
    assert "missed" not in verdicts.values(), verdicts
    assert verdicts["FP4"] == "met"
    for allowance in allowances.values():
        # The default is one of the robust variants' neighbours, never far from their best.
        assert allowance.best_robust[0] <= allowance.default_m + 0.05
        assert allowance.best_any[0] <= allowance.best_robust[0]


def test_table_iv_verdicts():
    def allowance(default, robust, anything):
        return tn098.Allowance("FP9", 1.0, default, (robust, "r"), (anything, "a"))

    assert allowance(0.9, 0.8, 0.5).verdict == "met"
    assert allowance(1.0, 0.8, 0.5).verdict == "met"  # at Table IV counts
    assert allowance(1.2, 0.95, 0.5).verdict == "missed"  # the issue's locator gets there
    assert allowance(1.2, 1.1, 0.5).verdict == "beyond robust GN"
    assert allowance(1.2, 1.1, 1.1).verdict == "beyond robust GN"


def test_cauchy_recipe_ignores_a_late_pulse_that_least_squares_follows():
    # Eight sensors round a shooter at the origin, exact arrival times but one 40 ms late
    # (a diffracted path): the Cauchy fit stays on the shooter, plain least squares not.
    c = tn098.tn098_speed_of_sound(15.0)
    angles = np.linspace(0.0, 2 * np.pi, 8, endpoint=False)
    radii = np.array([300.0, 420.0, 510.0, 260.0, 610.0, 350.0, 480.0, 390.0])
    sensors = np.column_stack([radii * np.cos(angles), radii * np.sin(angles), np.zeros(8)])
    times = 1_000.0 + radii / c
    times[2] += 0.040
    shot = tn098.ShotSet(
        firing_position="FP9",
        test="t",
        sensors=sensors,
        times=times,
        weather=None,
        survey_xyz=(0.0, 0.0, 0.0),
        complete=True,
        pulse_uuids=tuple(str(i) for i in range(8)),
    )
    cauchy = tn098.locate_set(shot, replace(tn098.TN098_RECIPE, estimator="cauchy"))
    plain = tn098.locate_set(
        shot, replace(tn098.TN098_RECIPE, estimator="range-weighted", range_power=0)
    )
    assert np.hypot(*cauchy) < 0.5
    assert np.hypot(*plain) > 2.0
    assert tn098.Recipe(estimator="cauchy").label.startswith("Cauchy GN 2D")
