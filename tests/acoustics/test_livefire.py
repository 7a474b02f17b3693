"""The ShotSpotter Pittsburgh live-fire tests (TN 098), located from allpulses alone.

Skips when the shared data is absent. The survey and ShotSpotter's published tuples are
read only here, for scoring. Thresholds are the measured figures plus a small margin.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

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
def livefire_results():
    root = default_livefire_root()  # $SHOTSPOTTER_SHARED_DATA or <repo>/../shared/data
    if not root.is_dir():
        pytest.skip(f"live-fire data not present at {root}")
    tests = find_tests(root)
    assert len(tests) == 72
    results, _ = run_tests(tests)
    return results


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
    # FP4/test_055: 3 rounds, 8 sensors reporting, 2 shots in ShotSpotter's own grouping.
    assert detected >= fired - 1


def test_every_located_shot_is_within_15_m_of_the_survey(livefire_results):
    errors = [e for r in livefire_results for e in r.errors_m]
    assert len(errors) >= 143
    assert max(errors) < 15.0
    assert max(errors) < 8.0  # measured 6.4 m


def test_ghost_events_are_at_most_5_percent(livefire_results):
    events = sum(len(r.shots) for r in livefire_results)
    ghosts = sum(len(r.ghosts) for r in livefire_results)
    assert ghosts <= 0.05 * events  # measured: 0 of 143


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
    for position in ("FP1", "FP2", "FP3", "FP4"):
        assert any(line.startswith(position) for line in text.splitlines())


def test_bench_command_skips_missing_live_fire_data(tmp_path):
    out = io.StringIO()
    call_command(
        "bench_acoustics", "--only", "livefire", "--data", str(tmp_path / "none"), stdout=out
    )
    assert "no data at" in out.getvalue()
