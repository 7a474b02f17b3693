"""Bundling located shots into incidents."""

import math

import numpy as np
import pytest

from apps.acoustics.incidents import bundle, cadence, same_place
from apps.acoustics.types import LocatedShot


def shot(t, x, y, *, sigma=3.0):
    axis = math.sqrt(5.991) * sigma
    return LocatedShot(
        t_emit=t,
        x=x,
        y=y,
        z=None,
        pulse_uuids=("a", "b", "c", "d"),
        sensor_ids=("1", "2", "3", "4"),
        residual_rms_s=2e-4,
        cov_xy=((sigma**2, 0.0), (0.0, sigma**2)),
        ellipse95_major_m=axis,
        ellipse95_minor_m=axis,
        ellipse95_azimuth_deg=0.0,
    )


def burst(*, t0, x, y, rounds, rpm, jitter_cv=0.0, sigma=3.0, seed=0):
    rng = np.random.default_rng(seed)
    gaps = 60.0 / rpm * (1 + jitter_cv * rng.standard_normal(rounds - 1))
    times = t0 + np.concatenate([[0.0], np.cumsum(gaps)])
    return [
        shot(float(t), x + rng.normal(0, sigma), y + rng.normal(0, sigma), sigma=sigma)
        for t in times
    ]


def test_600_rpm_burst_is_one_automatic_incident_with_all_rounds():
    shots = burst(t0=100.0, x=50.0, y=-20.0, rounds=12, rpm=600, jitter_cv=0.02, seed=1)
    (incident,) = bundle(shots)
    assert incident.n_rounds == 12
    assert incident.cadence_rpm == pytest.approx(600, rel=0.03)
    assert incident.automatic
    assert not incident.multiple_shooters


def test_irregular_semi_automatic_fire_is_not_flagged_automatic():
    shots = burst(t0=0.0, x=0.0, y=0.0, rounds=6, rpm=300, jitter_cv=0.25, seed=2)
    (incident,) = bundle(shots)
    assert incident.n_rounds == 6
    assert 200 < incident.cadence_rpm < 450
    assert not incident.automatic


def test_fast_but_irregular_fire_is_not_automatic():
    shots = burst(t0=0.0, x=0.0, y=0.0, rounds=8, rpm=700, jitter_cv=0.4, seed=3)
    (incident,) = bundle(shots)
    assert not incident.automatic


def test_separate_places_and_separate_times_make_separate_incidents():
    here = burst(t0=0.0, x=0.0, y=0.0, rounds=3, rpm=300)
    far_away = burst(t0=0.5, x=1500.0, y=0.0, rounds=2, rpm=300)
    much_later = burst(t0=120.0, x=0.0, y=0.0, rounds=2, rpm=300)
    incidents = bundle(here + far_away + much_later)
    assert [i.n_rounds for i in incidents] == [3, 2, 2]
    assert incidents[0].t_end < incidents[2].t_start


def test_two_shooters_in_one_exchange_are_detected():
    first = burst(t0=0.0, x=0.0, y=0.0, rounds=5, rpm=300, seed=4)
    second = burst(t0=0.1, x=60.0, y=25.0, rounds=4, rpm=500, seed=5)
    (incident,) = bundle(first + second)
    assert incident.n_rounds == 9
    assert incident.n_shooters == 2
    groups = {}
    for s, owner in zip(incident.shots, incident.shooter_of_shot, strict=True):
        groups.setdefault(owner, []).append(s.x)
    assert sorted(len(g) for g in groups.values()) == [4, 5]


def test_one_shooter_with_location_scatter_is_one_shooter():
    for seed in range(20):
        shots = burst(t0=0.0, x=10.0, y=10.0, rounds=6, rpm=300, sigma=6.0, seed=seed)
        (incident,) = bundle(shots)
        assert incident.n_shooters == 1


def test_same_place_uses_the_uncertainty():
    assert same_place(shot(0, 0, 0, sigma=20.0), shot(1, 60, 0, sigma=20.0))
    assert not same_place(shot(0, 0, 0, sigma=2.0), shot(1, 60, 0, sigma=2.0))


def test_cadence_of_a_single_round_is_unknown():
    assert cadence([5.0]) == (None, None)
    rpm, cv = cadence([0.0, 0.1, 0.2, 0.3])
    assert rpm == pytest.approx(600)
    assert cv == pytest.approx(0.0, abs=1e-9)


def test_bad_input():
    assert bundle([]) == []
    with pytest.raises(TypeError, match="LocatedShot"):
        bundle([{"t": 1}])
    with pytest.raises(ValueError, match="non-finite"):
        bundle([shot(float("nan"), 0, 0)])
    with pytest.raises(ValueError, match="positive"):
        bundle([shot(0, 0, 0)], max_gap_s=0)
