"""Live-fire benchmark: the ShotSpotter Pittsburgh tests (TN 098), FP1-FP4.

The locator sees only what `relocate` reads (`*.allpulses.json` and `*.weather.json`).
The survey file (shooter position, rounds fired) is used for scoring only. A located
event within DETECTION_RADIUS_M of the survey point counts as one of the test's shots (at
most as many as were fired); any other located event is a ghost.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from apps.acoustics.association import associate
from apps.acoustics.bench import tn098
from apps.acoustics.io import PulseInput, read_pulse_input
from apps.acoustics.sound import DEFAULT_TEMPERATURE_C, speed_of_sound, weather_wind
from apps.acoustics.types import LocatedShot

# TN 098 Table IV (2D): survey error of the centroid of the located shots, metres.
TN098_TABLE_IV_M = tn098.TN098_TABLE_IV_M
DETECTION_RADIUS_M = 50.0
FIRING_POSITIONS = ("FP1", "FP2", "FP3", "FP4")


def shared_data_root() -> Path:
    """`$SHOTSPOTTER_SHARED_DATA` or `<repo root>/../shared/data`."""
    env = os.environ.get("SHOTSPOTTER_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def default_livefire_root() -> Path:
    return shared_data_root() / "pittsburgh-live-fire"


@dataclass(frozen=True)
class Survey:
    x: float
    y: float
    z: float
    rounds: int
    firearm: str


@dataclass(frozen=True)
class LiveFireTest:
    name: str
    firing_position: str
    folder: Path
    survey: Survey


@dataclass
class TestResult:
    test: LiveFireTest
    shots: list[LocatedShot]
    detected: list[LocatedShot] = field(default_factory=list)
    ghosts: list[LocatedShot] = field(default_factory=list)
    errors_m: list[float] = field(default_factory=list)


def read_survey(folder: Path) -> Survey:
    files = sorted(folder.glob("*.survey.json"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.survey.json")
    record = json.loads(files[0].read_text())
    loc = record["survey_location"]
    return Survey(
        x=float(loc["x"]),
        y=float(loc["y"]),
        z=float(loc["z"]),
        rounds=int(record["num_rounds"]),
        firearm=str(record.get("firearm", "")),
    )


def find_tests(root: Path, *, positions=FIRING_POSITIONS) -> list[LiveFireTest]:
    tests = []
    for position in positions:
        for folder in sorted((root / position).glob("test_*")):
            if folder.is_dir() and list(folder.glob("*.allpulses.json")):
                tests.append(
                    LiveFireTest(
                        name=folder.name,
                        firing_position=position,
                        folder=folder,
                        survey=read_survey(folder),
                    )
                )
    return tests


def locate_input(pulse_input: PulseInput, *, source_z: float | None = None) -> list[LocatedShot]:
    """What `relocate` does for one PATH: weather-corrected association and location."""
    weather = pulse_input.weather
    temperature = weather.temperature_c if weather is not None else DEFAULT_TEMPERATURE_C
    return associate(
        pulse_input.pulses,
        c=speed_of_sound(temperature),
        wind_xy=weather_wind(weather),
        source_z=source_z,
    )


def score_test(test: LiveFireTest, shots: list[LocatedShot]) -> TestResult:
    survey = test.survey
    result = TestResult(test=test, shots=shots)
    near = []
    for shot in shots:
        distance = float(np.hypot(shot.x - survey.x, shot.y - survey.y))
        if distance <= DETECTION_RADIUS_M:
            near.append((distance, shot))
        else:
            result.ghosts.append(shot)
    near.sort(key=lambda item: item[0])
    for distance, shot in near[: survey.rounds]:
        result.detected.append(shot)
        result.errors_m.append(distance)
    result.ghosts.extend(shot for _, shot in near[survey.rounds :])
    return result


def run_tests(tests: list[LiveFireTest]) -> tuple[list[TestResult], float]:
    """Locate every test; returns results and the CPU time spent reading + locating.

    CPU time of this process (one thread) rather than wall time, so that other work on a
    shared machine does not distort the per-core speed.
    """
    results = []
    elapsed = 0.0
    for test in tests:
        start = time.process_time()
        shots = locate_input(read_pulse_input(test.folder))
        elapsed += time.process_time() - start
        results.append(score_test(test, shots))
    return results, elapsed


@dataclass(frozen=True)
class PositionSummary:
    position: str
    tests: int
    fired: int
    detected: int
    located_events: int
    ghosts: int
    survey_error_m: float
    p50_m: float
    p90_m: float
    max_m: float


def summarise(results: list[TestResult]) -> list[PositionSummary]:
    rows = []
    for position in FIRING_POSITIONS:
        group = [r for r in results if r.test.firing_position == position]
        if not group:
            continue
        survey = group[0].test.survey
        located = [s for r in group for s in r.detected]
        errors = np.array([e for r in group for e in r.errors_m])
        if located:
            centroid = np.mean([[s.x, s.y] for s in located], axis=0)
            survey_error = float(np.hypot(centroid[0] - survey.x, centroid[1] - survey.y))
        else:
            survey_error = float("nan")
        rows.append(
            PositionSummary(
                position=position,
                tests=len(group),
                fired=sum(r.test.survey.rounds for r in group),
                detected=len(located),
                located_events=sum(len(r.shots) for r in group),
                ghosts=sum(len(r.ghosts) for r in group),
                survey_error_m=survey_error,
                p50_m=float(np.percentile(errors, 50)) if len(errors) else float("nan"),
                p90_m=float(np.percentile(errors, 90)) if len(errors) else float("nan"),
                max_m=float(errors.max()) if len(errors) else float("nan"),
            )
        )
    return rows


def published_tuples_survey_error(tests: list[LiveFireTest]) -> dict[str, float]:
    """Survey error per firing position when ShotSpotter's own pulse sets (nlos-tuples)
    are located by our locator: what the data give with perfect agreement on association."""
    from apps.acoustics.location import LocationError, locate_pulses

    points: dict[str, list[tuple[float, float]]] = {}
    surveys: dict[str, Survey] = {}
    for test in tests:
        files = sorted(test.folder.glob("*.nlos-tuples.json"))
        if not files:
            continue
        pulse_input = read_pulse_input(test.folder)
        by_id = {p.pulse_uuid: p for p in pulse_input.pulses}
        weather = pulse_input.weather
        c = speed_of_sound(weather.temperature_c if weather else DEFAULT_TEMPERATURE_C)
        for shot in json.loads(files[0].read_text()):
            pulses = [by_id[u] for u in shot["pulse_uuids"] if u in by_id]
            try:
                located = locate_pulses(pulses, c=c, wind_xy=weather_wind(weather))
            except LocationError:
                continue
            points.setdefault(test.firing_position, []).append((located.x, located.y))
            surveys[test.firing_position] = test.survey
    errors = {}
    for position, xy in points.items():
        centroid = np.mean(xy, axis=0)
        survey = surveys[position]
        errors[position] = float(np.hypot(centroid[0] - survey.x, centroid[1] - survey.y))
    return errors


def run(*, data: Path | None = None, quick: bool = False, out=print) -> list[PositionSummary]:
    """Print the live-fire tables; returns the per-position summaries (empty if no data)."""
    root = Path(data) if data is not None else default_livefire_root()
    if not root.is_dir():
        out(f"live-fire: no data at {root} (skipped)")
        return []
    tests = find_tests(root)
    if quick:
        tests = [t for i, t in enumerate(tests) if i % 3 == 0]
    if not tests:
        out(f"live-fire: no test folders under {root} (skipped)")
        return []
    results, elapsed = run_tests(tests)
    rows = summarise(results)
    reference = published_tuples_survey_error(tests)
    out(f"Live-fire, {root} ({len(tests)} tests{', quick subset' if quick else ''}), 2D")
    out(
        f"{'FP':<4} {'tests':>5} {'detected/fired':>15} {'events':>6} {'ghosts':>6} "
        f"{'survey err m':>12} {'TN098 IV':>8} {'SST sets':>8} {'p50 m':>6} {'p90 m':>6} "
        f"{'max m':>6}"
    )
    for row in rows:
        out(
            f"{row.position:<4} {row.tests:>5} {f'{row.detected}/{row.fired}':>15} "
            f"{row.located_events:>6} {row.ghosts:>6} {row.survey_error_m:>12.2f} "
            f"{TN098_TABLE_IV_M[row.position]:>8.2f} "
            f"{reference.get(row.position, float('nan')):>8.2f} {row.p50_m:>6.2f} "
            f"{row.p90_m:>6.2f} {row.max_m:>6.2f}"
        )
    out(
        "(survey err: centroid of located shots to the survey point; SST sets: the same "
        "locator on ShotSpotter's published pulse sets, for reference)"
    )
    fired = sum(r.fired for r in rows)
    detected = sum(r.detected for r in rows)
    events = sum(r.located_events for r in rows)
    ghosts = sum(r.ghosts for r in rows)
    shots = sum(len(r.shots) for r in results)
    out(
        f"all  detected {detected}/{fired}; ghosts {ghosts}/{events} located events "
        f"({100.0 * ghosts / max(events, 1):.1f}%)"
    )
    missed = [
        f"{r.test.firing_position}/{r.test.name} {len(r.detected)}/{r.test.survey.rounds}"
        for r in results
        if len(r.detected) < r.test.survey.rounds
    ]
    if missed:
        out("tests with missed shots: " + ", ".join(missed))
    out(
        f"speed (CPU time, one core, read + associate + locate): "
        f"{len(tests) / elapsed:.1f} tests/s, {shots / elapsed:.1f} shots located/s"
    )
    out()
    tn098.run(
        tests=tests,
        results=results,
        default_errors_m={row.position: row.survey_error_m for row in rows},
        out=out,
    )
    return rows
