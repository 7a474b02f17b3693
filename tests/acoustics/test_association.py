"""Association: pulses from many sensors -> located shots, amid echoes and random bangs."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

from apps.acoustics.association import DEFAULT_CONFIG, AssociationError, associate
from apps.acoustics.bench.location_synthetic import grid_sensors, make_scenario
from apps.acoustics.types import Pulse

C = 340.0
T0 = 1.6e9


def found(shots, truth, *, metres=15.0, seconds=0.02):
    """How many true shots have a located shot at the same place and time."""
    hits = 0
    for x, y, t in truth:
        if any(
            abs(s.t_emit - t) < seconds and math.hypot(s.x - x, s.y - y) < metres for s in shots
        ):
            hits += 1
    return hits


def scenario(seed, shots, **kwargs):
    rng = np.random.default_rng(seed)
    return make_scenario(rng, sensors=grid_sensors(rng), shots=shots, c=C, **kwargs)


def test_single_shot_with_echoes_and_random_bangs():
    case = scenario(1, [(520.0, 610.0, T0)], random_pulses=30)
    shots = associate(case.pulses, c=C)
    assert len(shots) == 1
    (shot,) = shots
    assert math.hypot(shot.x - 520.0, shot.y - 610.0) < 2.0
    assert abs(shot.t_emit - T0) < 0.005
    # Exactly the direct-path pulses, one per sensor.
    assert set(shot.pulse_uuids) == case.shot_pulse_ids[0]
    assert len(set(shot.sensor_ids)) == len(shot.sensor_ids) == shot.n_sensors
    assert shot.confident and not shot.outside_hull


def test_echo_ghosts_do_not_become_shots():
    # Strong, coherent reflections on most sensors: each wall is a mirror-image source.
    case = scenario(4, [(300.0, 780.0, T0)], reflectors_per_shot=4, echo_probability=0.9)
    shots = associate(case.pulses, c=C)
    assert found(shots, case.shots) == 1
    assert len(shots) == 1


def test_a_burst_65_ms_apart_stays_separate():
    truth = [(600.0, 500.0, T0 + k * 0.065) for k in range(4)]
    case = scenario(2, truth, reflectors_per_shot=1)
    shots = associate(case.pulses, c=C)
    assert found(shots, truth) == 4
    assert len(shots) == 4


def test_two_simultaneous_sources_in_different_places_are_both_found():
    truth = [(250.0, 300.0, T0), (950.0, 900.0, T0 + 0.004)]
    case = scenario(5, truth, random_pulses=20)
    shots = associate(case.pulses, c=C)
    assert found(shots, truth) == 2
    assert len(shots) == 2
    used = [u for s in shots for u in s.pulse_uuids]
    assert len(used) == len(set(used))  # no pulse in two shots


def two_guns_and_a_wall(seed):
    """Gun A's burst of 8 rounds, a wall's echo of each (a mirror-image source 500 m away,
    heard 6 dB weaker on this side of the wall) and gun B's 8 rounds, 10 dB weaker than
    A's, each fired 0.11-0.13 s after one of A's from 184 m away."""
    rng = np.random.default_rng(seed)
    sensors = grid_sensors(rng)
    gun_a, gun_b = np.array([500.0, 500.0]), np.array([640.0, 620.0])
    image = gun_a + np.array([300.0, -400.0])
    pulses, rounds = [], {"a": [], "b": [], "wall": []}

    def fire(name, where, t_emit, level):
        distance = np.hypot(*(sensors[:, :2] - where).T)
        ids = []
        for k in range(len(sensors)):
            if name == "wall" and distance[k] < math.dist(sensors[k, :2], gun_a):
                continue  # beyond the wall, which blocks its own reflection
            ids.append(f"{name}{len(pulses)}")
            pulses.append(
                Pulse(
                    ids[-1],
                    f"S{k:02d}",
                    float(t_emit + distance[k] / C + rng.normal(0.0, 0.0005)),
                    *map(float, sensors[k]),
                    power_db_spl=float(level - 20 * np.log10(distance[k]) + rng.normal(0, 0.5)),
                )
            )
        rounds[name].append((ids, where, t_emit))

    times_a = T0 + np.arange(8) * 0.25 + rng.uniform(0.0, 0.02, 8)
    for t_a, t_b in zip(times_a, times_a + 0.11 + rng.uniform(0.0, 0.02, 8), strict=True):
        fire("a", gun_a, t_a, 150.0)
        fire("wall", image, t_a, 144.0)
        fire("b", gun_b, t_b, 140.0)
    return sorted(pulses, key=lambda p: p.t), rounds


def test_an_echo_is_named_by_its_reflector_so_a_second_guns_weaker_rounds_are_found():
    # Gun B's rounds are weaker than gun A's on every sensor and follow some round of A
    # within 3 s: by power alone they look like A's echoes (before: 1 of B's 8 rounds
    # located, and the wall's image taken for a shot). A reflector re-radiates every round
    # of A, so on each sensor its echo follows each of A's rounds at the same lag; B's
    # rounds keep no lag to A's.
    from apps.acoustics.association import _Associator, _Candidate

    pulses, rounds = two_guns_and_a_wall(21)
    associator = _Associator(pulses, c=C, wind_xy=(0.0, 0.0), source_z=None, config=DEFAULT_CONFIG)
    index = {p.pulse_uuid: k for k, p in enumerate(associator.data.items)}

    def candidate(ids, where, t_emit):
        members = np.array(sorted(index[u] for u in ids))
        start = (*(where - associator.centre), t_emit - associator.data.t0)
        return _Candidate(fix=associator._fit(members, start), members=members, score=len(ids))

    gun_a = [candidate(*r) for r in rounds["a"]]
    assert not any(associator._is_ghost(candidate(*r), gun_a) for r in rounds["b"])
    assert all(associator._is_ghost(candidate(*r), gun_a) for r in rounds["wall"])
    shots = associate(pulses, c=C)
    assert found(shots, [(x, y, t) for _, (x, y), t in rounds["a"]], metres=2.0) == 8
    assert found(shots, [(x, y, t) for _, (x, y), t in rounds["b"]], metres=2.0) == 8
    assert len(shots) == 16


def test_recall_and_precision_over_varied_scenarios():
    # 40 scenarios: single shots, 65 ms bursts, simultaneous pairs, 0.6 s bursts, each with
    # echoes and 30 random bangs (seeded). Measured: 90/90 shots found, 0 false shots.
    rng = np.random.default_rng(1)
    true_shots = hits = located = 0
    for trial in range(40):
        sensors = grid_sensors(rng)
        t0 = T0 + trial * 100
        x, y = rng.uniform(300, 900, 2)
        kind = trial % 4
        truth = {
            0: [(x, y, t0)],
            1: [(x, y, t0 + k * 0.065) for k in range(3)],
            2: [(300.0, 300.0, t0), (900.0, 900.0, t0 + 0.01)],
            3: [(x, y, t0 + k * 0.6) for k in range(3)],
        }[kind]
        case = make_scenario(rng, sensors=sensors, shots=truth, c=C, random_pulses=30)
        shots = associate(case.pulses, c=C)
        true_shots += len(truth)
        hits += found(shots, truth)
        located += len(shots)
    assert hits / true_shots >= 0.95
    assert (located - hits) / located <= 0.03


def pulses_at(sensors, times):
    return [
        Pulse(f"p{k}", f"S{k % len(sensors)}", float(t), *map(float, sensors[k % len(sensors)]))
        for k, t in enumerate(times)
    ]


def test_degenerate_inputs_give_an_empty_result():
    assert associate([], c=C) == []
    one = [Pulse("a", "S1", T0, 0.0, 0.0, 0.0)]
    assert associate(one, c=C) == []
    same_sensor = [Pulse(f"p{k}", "S1", T0 + 0.1 * k, 0.0, 0.0, 0.0) for k in range(50)]
    assert associate(same_sensor, c=C) == []
    three = np.array([[0.0, 0.0, 0.0], [500.0, 0.0, 0.0], [0.0, 500.0, 0.0]])
    d = np.hypot(*(three[:, :2] - [200.0, 200.0]).T)
    assert associate(pulses_at(three, T0 + d / C), c=C) == []
    line = np.column_stack([np.arange(8) * 200.0, np.arange(8) * 100.0, np.zeros(8)])
    d = np.hypot(*(line[:, :2] - [300.0, 900.0]).T)
    assert associate(pulses_at(line, T0 + d / C), c=C) == []


def test_non_finite_values_and_duplicate_ids_are_refused():
    case = scenario(1, [(520.0, 610.0, T0)])
    bad = list(case.pulses)
    p = bad[3]
    bad[3] = Pulse(p.pulse_uuid, p.sensor_id, float("nan"), p.x, p.y, p.z)
    with pytest.raises(AssociationError, match="finite"):
        associate(bad, c=C)
    with pytest.raises(AssociationError, match="duplicate"):
        associate(case.pulses + case.pulses[:1], c=C)
    with pytest.raises(AssociationError, match="speed of sound"):
        associate(case.pulses, c=float("nan"))
    for height in (float("nan"), float("inf")):
        with pytest.raises(AssociationError, match="source height"):
            associate(case.pulses, c=C, source_z=height)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_ten_thousand_random_pulses_in_a_minute_finish_and_locate_nothing():
    # 167 pulses/s over 20 sensors: dense, but a real shot fitting to a few ms on most
    # sensors would still stand out, so the input is searched (bounded work per pulse;
    # measured ~10 s CPU) and random timing yields no shot.
    rng = np.random.default_rng(9)
    sensors = grid_sensors(rng, n=20)
    times = T0 + rng.uniform(0.0, 60.0, 10_000)
    assert associate(pulses_at(sensors, times), c=C) == []


@pytest.mark.timeout(60)
def test_hopelessly_dense_pulses_are_refused_with_a_clear_error():
    # 10,000 pulses in one second from 8 sensors: not even all sensors agreeing to the
    # timing-noise floor would be significant.
    rng = np.random.default_rng(11)
    sensors = grid_sensors(rng, n=8)
    times = T0 + rng.uniform(0.0, 1.0, 10_000)
    start = time.perf_counter()
    with pytest.raises(AssociationError, match="too dense"):
        associate(pulses_at(sensors, times), c=C)
    assert time.perf_counter() - start < 30


def test_four_sensors_with_ordinary_background_give_an_empty_result_not_an_error():
    # A few pulses per second on a 4-sensor array: a 4-sensor shot could not be told from
    # chance here (a fifth sensor would have to confirm it), but that is a small array,
    # not flooding: nothing is located and nothing is refused.
    rng = np.random.default_rng(12)
    sensors = grid_sensors(rng, n=4)
    times = T0 + rng.uniform(0.0, 60.0, 240)
    assert associate(pulses_at(sensors, times), c=C) == []


@pytest.mark.timeout(60)
def test_ten_thousand_sparse_random_pulses_yield_no_shots():
    # Spread over ~3 hours the same number of pulses is ordinary background: no shots.
    rng = np.random.default_rng(10)
    sensors = grid_sensors(rng, n=20)
    times = T0 + rng.uniform(0.0, 10_000.0, 10_000)
    start = time.perf_counter()
    shots = associate(pulses_at(sensors, times), c=C)
    assert time.perf_counter() - start < 30
    # Four or five random pulses do line up by chance now and then (measured, seed 10: five
    # such 'shots' among 10,000 pulses); they must stay rare and small.
    assert len(shots) <= 10
    assert all(shot.n_sensors <= 5 for shot in shots)


def test_four_sensors_that_hear_one_shot_and_nothing_else_locate_it():
    """Issue 3: four consistent sensors (2D, d + 2) locate a shot. The input check counted
    the shot's own four pulses as the background they must stand out from (2 pulses/s:
    a fifth sensor needed), so four sensors alone never located anything."""
    four = np.array([[0.0, 0.0, 0.0], [600.0, 0.0, 0.0], [600.0, 600.0, 0.0], [0.0, 600.0, 0.0]])
    d = np.hypot(*(four[:, :2] - [210.0, 140.0]).T)
    (shot,) = associate(pulses_at(four, T0 + d / C), c=C)
    assert shot.n_sensors == 4 and shot.confident
    assert math.hypot(shot.x - 210.0, shot.y - 140.0) < 0.01
    # Three of them are still not enough.
    assert associate(pulses_at(four[:3], T0 + d[:3] / C), c=C) == []


def test_three_sensors_give_only_low_confidence_candidates_when_asked():
    three = np.array([[0.0, 0.0, 5.0], [800.0, 100.0, 0.0], [300.0, 900.0, 10.0]])
    d = np.hypot(*(three[:, :2] - [350.0, 300.0]).T)
    pulses = [
        Pulse(f"p{k}", f"S{k}", float(T0 + d[k] / C), *map(float, three[k]), power_db_spl=85.0)
        for k in range(3)
    ]
    assert associate(pulses, c=C) == []  # by default nothing is located from 3 sensors
    config = dataclasses.replace(DEFAULT_CONFIG, three_sensor_candidates=True)
    (candidate,) = associate(pulses, c=C, config=config)
    assert not candidate.confident and candidate.n_sensors == 3
    assert math.hypot(candidate.x - 350.0, candidate.y - 300.0) < 0.01
    assert abs(candidate.t_emit - T0) < 1e-5


# Realistic bursts from the acoustic generator (muzzle blasts with reverberation, facade
# echoes about as loud as the direct arrivals, rifle shock waves, NLOS paths, TN 098
# picking error, 1 ms rounding, unrelated bangs). Seeds 2000-2002 are the quick synthetic
# bench's. Measured with this association (recall / precision, emissions heard directly
# by >= 4 sensors): semi_auto 19/20 / 1.000, automatic 52/55 / 0.945, two_shooters
# 29/38 / 29/36 = 0.806 (28/38 / 0.875 before echoes were named by their reflector: more
# candidates pass, among them ghosts of rounds never accepted; 26/38 / 0.867 before the
# grid-seeded second look and the burst-place rule). Before burst completion and timing
# ghosts: 0.80/0.76, 0.26/0.36, 0.32/0.26.
GENERATED_BURSTS = {
    # kind: (minimum recall, minimum precision)
    "semi_auto": (0.95, 0.95),
    "automatic": (0.85, 0.90),
    "two_shooters": (0.70, 0.78),
}


def generated_totals(kind: str, seeds) -> dict:
    """Association recall and precision summed over generated scenarios of one kind."""
    from apps.acoustics.bench.synthetic import match_shots
    from apps.acoustics.generator import generate_scenario
    from apps.acoustics.sound import speed_of_sound, weather_wind

    totals = {"locatable": 0, "found": 0, "located": 0, "false": 0, "guns": 0, "guns_found": 0}
    for seed in seeds:
        case = generate_scenario(kind=kind, seed=seed)
        weather = case.weather
        shots = associate(
            case.pulses, c=speed_of_sound(weather.temperature_c), wind_xy=weather_wind(weather)
        )
        by_uuid = {p.pulse_uuid: p for p in case.pulses}
        result = match_shots(shots, case.truth, by_uuid)
        for key in totals:
            totals[key] += result[key]
        for shot in shots:
            assert len(set(shot.sensor_ids)) == len(shot.sensor_ids)
        used = [u for shot in shots for u in shot.pulse_uuids]
        assert len(used) == len(set(used))
    return totals


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", sorted(GENERATED_BURSTS))
def test_generated_bursts_are_separated_from_their_echoes(kind):
    totals = generated_totals(kind, (2000, 2001, 2002))
    min_recall, min_precision = GENERATED_BURSTS[kind]
    assert totals["found"] / totals["locatable"] >= min_recall, totals
    assert (totals["located"] - totals["false"]) / totals["located"] >= min_precision, totals


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_interleaved_bursts_of_two_guns_hold_their_measured_recall():
    # Two guns 30-150 m apart, semi-automatic or automatic, the second starting up to 0.8 s
    # after the first: their bursts interleave with each other's echoes (a sensor hears
    # 20-50 pulses/s, against at most 8/s in the live-fire data). Seeds 3000-3005 were
    # never used to tune the association (tuning: 100-139). Measured: 11 of the 12 guns
    # found (at least one round located; both guns in 5 of the 6 scenarios), round recall
    # 59/86 = 0.686, precision 59/66 = 0.894 (before echoes were named by their reflector
    # and the back-projection scan: 9 guns, 51/86, 51/56). One gun of 3004 is still
    # missed. Two sources at once without interleaved bursts:
    # test_two_simultaneous_sources_in_different_places_are_both_found and
    # test_recall_and_precision_over_varied_scenarios.
    totals = generated_totals("two_shooters", range(3000, 3006))
    assert totals["guns"] == 12, totals
    assert totals["guns_found"] >= 11, totals
    assert totals["found"] / totals["locatable"] >= 0.65, totals
    precision = (totals["located"] - totals["false"]) / totals["located"]
    assert precision >= 0.87, totals


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fireworks_echoes_are_not_taken_for_bangs_where_no_reflector_can_name_them():
    # Naming an echo by its reflector (its lag recurs after the other rounds from the place)
    # needs rounds fired at a gun's cadence. Fireworks' places (mortar shells, large
    # firecrackers, scattered bangs seconds apart) give lags that seldom recur, so there
    # the power rule alone holds: a weaker later pulse is an echo. Measured on seeds 2003
    # and 2009: precision 32/51 = 0.627 (33/73 = 0.452 when the naming held everywhere),
    # 32 of 145 locatable bangs found (33 before).
    totals = generated_totals("fireworks", (2003, 2009))
    precision = (totals["located"] - totals["false"]) / totals["located"]
    assert precision >= 0.58, totals
    assert totals["found"] >= 28, totals


# Incremental association: seeding only from given pulses (the live pipeline's new ones).
def test_seeding_from_one_shots_pulses_finds_the_same_shot_as_a_full_run():
    # The association's own scenarios (65 ms bursts, simultaneous pairs, 0.6 s bursts, with
    # echoes and random bangs): seeded from any one shot's direct pulses, the shots that
    # contain them are exactly those of the full run (measured 64 of 64).
    rng = np.random.default_rng(7)
    compared = 0
    for trial in range(24):
        sensors = grid_sensors(rng)
        t0 = T0 + trial * 100
        x, y = rng.uniform(300, 900, 2)
        truth = {
            0: [(x, y, t0 + k * 0.065) for k in range(3)],
            1: [(300.0, 300.0, t0), (900.0, 900.0, t0 + 0.01)],
            2: [(x, y, t0 + k * 0.6) for k in range(3)],
        }[trial % 3]
        case = make_scenario(rng, sensors=sensors, shots=truth, c=C, random_pulses=30)
        full = associate(case.pulses, c=C)
        for ids in case.shot_pulse_ids:
            seeds = set(ids)
            part = associate(case.pulses, c=C, seed_pulse_uuids=seeds)
            expected = {frozenset(s.pulse_uuids) for s in full if seeds & set(s.pulse_uuids)}
            got = {frozenset(s.pulse_uuids) for s in part if seeds & set(s.pulse_uuids)}
            assert got == expected, (trial, ids)
            assert expected  # every shot here is found
            compared += 1
    assert compared == 64


def test_seed_pulse_uuids_limit_the_seeds_tried_and_the_time(monkeypatch):
    from apps.acoustics import association

    case = scenario(5, [(250.0, 300.0, T0), (950.0, 900.0, T0 + 0.004)], random_pulses=20)
    tried = []
    real_hypotheses = association._Associator._hypotheses

    def counting(self, seed, explained):
        tried.append(self.data.items[seed].pulse_uuid)
        return real_hypotheses(self, seed, explained)

    monkeypatch.setattr(association._Associator, "_hypotheses", counting)
    started = time.process_time()
    for _ in range(5):
        full = associate(case.pulses, c=C)
    full_cpu = time.process_time() - started
    full_tried = len(tried)
    seeds = set(case.shot_pulse_ids[1])
    tried.clear()
    started = time.process_time()
    for _ in range(5):
        part = associate(case.pulses, c=C, seed_pulse_uuids=seeds)
    part_cpu = time.process_time() - started
    assert tried and set(tried) <= seeds
    assert len(tried) < full_tried / 2
    assert part_cpu < full_cpu
    # Pulses outside the seeds are still matched: the second source's shot is complete.
    (shot,) = part
    assert set(shot.pulse_uuids) == seeds
    assert frozenset(shot.pulse_uuids) in {frozenset(s.pulse_uuids) for s in full}


def test_seed_pulse_uuids_that_match_no_pulse_give_nothing():
    case = scenario(1, [(520.0, 610.0, T0)], random_pulses=30)
    assert associate(case.pulses, c=C, seed_pulse_uuids=[]) == []
    assert associate(case.pulses, c=C, seed_pulse_uuids={"not-a-pulse"}) == []
    (shot,) = associate(case.pulses, c=C, seed_pulse_uuids=list(case.shot_pulse_ids[0])[:1])
    assert set(shot.pulse_uuids) == case.shot_pulse_ids[0]
