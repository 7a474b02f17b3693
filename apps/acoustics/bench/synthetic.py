"""Synthetic benchmarks of part B: association under simultaneous sources and dense echoes,
and the incident classifier per confuser class, on generated scenarios never used for
training (association: seeds 2000+; classifier: see bench/classifier_heldout.py).

`run(quick=..., out=print)` prints the tables; `bench_acoustics` calls it.
"""

from __future__ import annotations

import time
from collections import Counter

from apps.acoustics.generator import Options, generate_scenario

# (row name, scenario kind, dense echoes?)
ASSOCIATION_CASES = (
    ("single_shot", "single_shot", False),
    ("semi_auto", "semi_auto", False),
    ("automatic", "automatic", False),
    ("two_shooters", "two_shooters", False),
    ("fireworks", "fireworks", False),
    ("single+echoes", "single_shot", True),
    ("semi+echoes", "semi_auto", True),
    ("two+echoes", "two_shooters", True),
)
BENCH_SEED_BASE = 2000


def _associate():
    """Part A's association, if present (the benchmark degrades to a note otherwise)."""
    try:
        from apps.acoustics.association import associate
    except ImportError:
        return None
    return associate


def match_shots(located, truth: dict, pulses_by_uuid: dict) -> dict:
    """Match located shots to truth emissions by their direct (or shock) pulses."""
    owner = {}
    for shot in truth["shots"]:
        for uuid in shot["direct_pulse_uuids"] + shot["shock_pulse_uuids"]:
            owner[uuid] = shot["shot_id"]
    locatable = set()
    for shot in truth["shots"]:
        sensors = {pulses_by_uuid[u].sensor_id for u in shot["direct_pulse_uuids"]}
        if len(sensors) >= 4:
            locatable.add(shot["shot_id"])
    found, false_shots, good_pulses, all_pulses = set(), 0, 0, 0
    for shot in located:
        votes = Counter(owner.get(u) for u in shot.pulse_uuids)
        best, count = votes.most_common(1)[0]
        all_pulses += len(shot.pulse_uuids)
        if best is not None and count >= 3 and count >= len(shot.pulse_uuids) / 2:
            if best in found:
                false_shots += 1  # a second fix of one emission counts against precision
            found.add(best)
            good_pulses += count
        else:
            false_shots += 1
    # Guns (gunfire sources with a locatable round) of which at least one round was found:
    # "both shooters found" asks this of every source, whatever share of its rounds.
    guns = [
        set(source["shot_ids"]) & locatable
        for source in truth.get("sources", ())
        if source.get("label") == "gunfire" and set(source["shot_ids"]) & locatable
    ]
    return {
        "locatable": len(locatable),
        "found": len(found & locatable),
        "located": len(located),
        "false": false_shots,
        "guns": len(guns),
        "guns_found": sum(bool(rounds & found) for rounds in guns),
        "pulse_precision": good_pulses / all_pulses if all_pulses else None,
    }


def run_association(*, quick: bool, out=print) -> None:
    associate = _associate()
    if associate is None:
        out("synthetic association: apps.acoustics.association not available (skipped)")
        return
    from apps.acoustics.sound import speed_of_sound, weather_wind

    per_kind = 3 if quick else 10
    out("Association on generated scenarios (NLOS 25%, TN 098 picking error, 1 ms rounding;")
    out("'+echoes' rows: twice the facades)")
    out(
        f"{'scenario':<14} {'n':>3} {'emissions':>9} {'recall':>7} {'precision':>9} "
        f"{'pulse prec':>10} {'s/scenario':>10} {'guns found':>10}"
    )
    for row, kind, dense in ASSOCIATION_CASES:
        totals = Counter()
        pulse_precisions, elapsed, refused = [], 0.0, []
        for i in range(per_kind):
            scenario = generate_scenario(
                kind=kind, seed=BENCH_SEED_BASE + i, options=Options(dense_echoes=dense)
            )
            weather = scenario.weather
            started = time.perf_counter()
            try:
                located = associate(
                    scenario.pulses,
                    c=speed_of_sound(weather.temperature_c),
                    wind_xy=weather_wind(weather),
                )
            except ValueError as error:  # e.g. the association refuses over-dense input
                refused.append(f"{scenario.name}: {error}")
                located = []
            elapsed += time.perf_counter() - started
            by_uuid = {p.pulse_uuid: p for p in scenario.pulses}
            result = match_shots(located, scenario.truth, by_uuid)
            totals.update({k: v for k, v in result.items() if k != "pulse_precision"})
            if result["pulse_precision"] is not None:
                pulse_precisions.append(result["pulse_precision"])
        recall = totals["found"] / totals["locatable"] if totals["locatable"] else float("nan")
        located = totals["located"]
        precision = (located - totals["false"]) / located if located else float("nan")
        pulse_precision = (
            sum(pulse_precisions) / len(pulse_precisions) if pulse_precisions else float("nan")
        )
        guns = f"{totals['guns_found']}/{totals['guns']}" if "two" in row else ""
        out(
            f"{row:<14} {per_kind:>3} {totals['locatable']:>9} {recall:>7.3f} "
            f"{precision:>9.3f} {pulse_precision:>10.3f} {elapsed / per_kind:>10.2f} {guns:>10}"
        )
        for note in refused:
            out(f"  refused {note[:150]}")
    out(
        "recall: emissions heard directly by >= 4 sensors that were located; precision: "
        "located shots whose pulses are mostly direct arrivals of one emission; guns found: "
        "guns with at least one of their locatable rounds located"
    )


def run_classifier(*, quick: bool, out=print) -> None:
    """The classifier target on a large held-out set through the real association."""
    from apps.acoustics.bench import classifier_heldout

    classifier_heldout.run(quick=quick, out=out)


def run(*, quick: bool = False, out=print) -> None:
    run_association(quick=quick, out=out)
    out()
    run_classifier(quick=quick, out=out)
