"""Burst completion by template: a weakly heard round of a burst located from its siblings."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from apps.acoustics.association import DEFAULT_CONFIG, associate
from apps.acoustics.burst_completion import rounds_matching_template
from apps.acoustics.types import Pulse

C = 340.0
T0 = 1.6e9
SHOOTER = np.array([700.0, 650.0])
# The template search's parameters in the direct tests below.
SEARCH = dict(
    tolerance_s=0.002,
    min_sensors=4,
    min_offset_s=0.05,
    max_offset_s=10.0,
    taken_offsets_s=[],
    rate_window_s=0.25,
    false_alarm_p=3e-4,
    max_peaks=200,
)


def sensors(rng) -> np.ndarray:
    """12 sensors on a jittered 4 x 3 grid, 450 m apart."""
    grid = np.array([(x, y) for x in range(4) for y in range(3)], dtype=float) * 450.0
    return grid + rng.uniform(-80.0, 80.0, grid.shape)


def burst(seed: int, *, weak_round_on: str = "nearest", clutter_per_sensor: int = 2):
    """Three rounds from SHOOTER: the first heard by only four sensors (the nearest, or the
    farthest), the others by all. Each sensor has its own propagation delay (0-6 ms,
    diffraction), the same for every round; times are rounded to 1 ms as in the
    Pittsburgh data; random bangs are scattered over the 4 s around the burst (2 per sensor:
    about as sparse as the Pittsburgh tests, whose sensors report 0-2 pulses/s)."""
    rng = np.random.default_rng(seed)
    xy = sensors(rng)
    distance = np.hypot(*(xy - SHOOTER).T)
    delay = rng.uniform(0.0, 0.006, len(xy))
    emissions = [T0, T0 + 0.731, T0 + 1.299]
    by_distance = np.argsort(distance)
    weak = by_distance[:4] if weak_round_on == "nearest" else by_distance[-4:]
    pulses, weak_ids = [], set()

    def add(k, t, power, tag):
        pulses.append(
            Pulse(
                pulse_uuid=f"{tag}-{k}-{len(pulses)}",
                sensor_id=f"S{k:02d}",
                t=round(t * 1000.0) / 1000.0,
                x=float(xy[k, 0]),
                y=float(xy[k, 1]),
                z=0.0,
                power_db_spl=power,
            )
        )
        return pulses[-1].pulse_uuid

    for r, t_emit in enumerate(emissions):
        heard = weak if r == 0 else range(len(xy))
        for k in heard:
            uuid = add(k, t_emit + distance[k] / C + delay[k], 92.0 - distance[k] / 100.0, "r")
            if r == 0:
                weak_ids.add(uuid)
    for k in range(len(xy)):
        for t in rng.uniform(T0 - 1.0, T0 + 3.0, clutter_per_sensor):
            add(k, t, float(rng.uniform(70.0, 90.0)), "bang")
    return pulses, emissions, weak_ids


def located_rounds(shots, emissions):
    return [
        any(
            abs(s.t_emit - t) < 0.01 and math.hypot(s.x - SHOOTER[0], s.y - SHOOTER[1]) < 15.0
            for s in shots
        )
        for t in emissions
    ]


def test_a_round_heard_by_four_sensors_is_completed_from_its_burst():
    off = dataclasses.replace(DEFAULT_CONFIG, template_tolerance_s=0.0)
    completed = 0
    for seed in range(10):
        pulses, emissions, weak_ids = burst(seed)
        without = associate(pulses, c=C, config=off)
        with_template = associate(pulses, c=C)
        # The free search finds the two widely heard rounds, never the weak one: three
        # pulses fit any source, so four sensors amid random bangs are not significant.
        assert located_rounds(without, emissions) == [False, True, True]
        assert len(without) == 2
        assert len(with_template) <= 3  # never a ghost
        if located_rounds(with_template, emissions) == [True, True, True]:
            completed += 1
            (first,) = [s for s in with_template if abs(s.t_emit - emissions[0]) < 0.01]
            # Its four pulses (a random bang may land within 2 ms on another sensor).
            assert weak_ids <= set(first.pulse_uuids)
            assert first.n_sensors <= 5
    assert completed >= 9


def test_four_far_sensors_alone_do_not_make_a_round():
    # The same pattern on the four farthest sensors: the sensors nearest the known place
    # did not hear it, so it is no round from there.
    for seed in range(10):
        pulses, emissions, _ = burst(seed, weak_round_on="farthest")
        shots = associate(pulses, c=C)
        assert located_rounds(shots, emissions) == [False, True, True]
        assert len(shots) == 2


def test_random_bangs_around_a_located_burst_add_no_rounds():
    # Dense random bangs (20 per sensor in 4 s): chance repeats of the pattern on four
    # sensors are rare and refused by their chance probability.
    for seed in range(20):
        pulses, emissions, weak_ids = burst(seed, clutter_per_sensor=20)
        pulses = [p for p in pulses if p.pulse_uuid not in weak_ids]
        shots = associate(pulses, c=C)
        assert located_rounds(shots, emissions)[1:] == [True, True]
        assert len(shots) == 2


def test_template_search_needs_min_sensors_agreeing_within_the_tolerance():
    template_sensors = np.arange(6)
    template_times = np.array([0.50, 0.79, 0.90, 1.50, 1.62, 1.99])
    offset = -0.732
    repeat = template_times[:4] + offset
    kwargs = dict(SEARCH, template_sensors=template_sensors, template_times=template_times)
    sensors_ = np.concatenate([template_sensors, template_sensors[:4]])
    times = np.concatenate([template_times, repeat])
    free = np.arange(len(times)) >= len(template_times)
    (found,) = rounds_matching_template(
        pulse_sensors=sensors_, pulse_times=times, free=free, **kwargs
    )
    assert abs(found.offset_s - offset) < 0.001
    assert sorted(found.members.tolist()) == [6, 7, 8, 9]
    assert found.chance < 3e-4
    # One of the four 5 ms off: three agree, which any emission time allows.
    shifted = times.copy()
    shifted[9] += 0.005
    assert (
        rounds_matching_template(pulse_sensors=sensors_, pulse_times=shifted, free=free, **kwargs)
        == []
    )
    # Already located at that offset: not found again.
    again = dict(kwargs, taken_offsets_s=[offset])
    assert (
        rounds_matching_template(pulse_sensors=sensors_, pulse_times=times, free=free, **again)
        == []
    )


def test_a_template_with_two_arrivals_on_one_sensor_is_refused():
    # A located shot has one pulse per sensor; the search maps each pulse to its sensor's
    # template arrival, which two arrivals on one sensor would make ambiguous.
    with pytest.raises(ValueError, match="one arrival per sensor"):
        rounds_matching_template(
            template_sensors=np.array([0, 1, 2, 1]),
            template_times=np.array([0.1, 0.2, 0.3, 0.4]),
            pulse_sensors=np.array([0, 1, 2, 1, 0, 1, 2]),
            pulse_times=np.array([0.1, 0.2, 0.3, 0.4, 1.1, 1.2, 1.3]),
            free=np.ones(7, dtype=bool),
            **dict(SEARCH, min_sensors=3),
        )


def test_template_sensors_may_be_any_labels_in_any_order():
    # The same repeat as above with sensors labelled 40, 10, 30, ... and the pulses shuffled.
    labels = np.array([40, 10, 30, 70, 20, 60])
    template_times = np.array([0.50, 0.79, 0.90, 1.50, 1.62, 1.99])
    offset = 2.417
    sensors_ = np.concatenate([labels, labels[[3, 0, 2, 1]], [50, 50]])
    times = np.concatenate([template_times, template_times[[3, 0, 2, 1]] + offset, [0.3, 2.9]])
    shuffle = np.random.default_rng(1).permutation(len(times))
    free = np.arange(len(times)) >= len(template_times)
    (found,) = rounds_matching_template(
        template_sensors=labels,
        template_times=template_times,
        pulse_sensors=sensors_[shuffle],
        pulse_times=times[shuffle],
        free=free[shuffle],
        **SEARCH,
    )
    assert abs(found.offset_s - offset) < 1e-9
    assert sorted(shuffle[found.members].tolist()) == [6, 7, 8, 9]
