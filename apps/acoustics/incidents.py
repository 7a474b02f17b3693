"""Bundle located shots into incidents: rounds, cadence, automatic fire, multiple shooters.

Shots belong to one incident when they are close in time (a gap of at most `max_gap_s`
to the incident's previous shot) and in place (within `radius_m` of the incident's first
shot). Inside an incident, shots are grouped by shooter: two shots share a position when
their separation is explained by their location uncertainty (χ² test on the summed
covariances) or is below `same_place_m`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from apps.acoustics.types import LocatedShot

# χ² with 2 degrees of freedom at 99.9%: two fixes of one position are almost never further
# apart than this in Mahalanobis terms.
_CHI2_2DOF_999 = 13.82


@dataclass(frozen=True)
class Incident:
    shots: tuple[LocatedShot, ...]  # in time order
    shooter_of_shot: tuple[int, ...]  # shooter index per shot (0 = the most rounds)
    n_shooters: int
    cadence_rpm: float | None  # rounds per minute of the main shooter, None for one round
    cadence_cv: float | None  # coefficient of variation of the gaps between rounds
    automatic: bool

    @property
    def n_rounds(self) -> int:
        return len(self.shots)

    @property
    def multiple_shooters(self) -> bool:
        return self.n_shooters > 1

    @property
    def t_start(self) -> float:
        return self.shots[0].t_emit

    @property
    def t_end(self) -> float:
        return self.shots[-1].t_emit

    @property
    def centroid_xy(self) -> tuple[float, float]:
        return (
            float(np.mean([s.x for s in self.shots])),
            float(np.mean([s.y for s in self.shots])),
        )


def _check_shots(shots) -> list[LocatedShot]:
    shots = list(shots)
    for index, shot in enumerate(shots):
        if not isinstance(shot, LocatedShot):
            raise TypeError(f"shot {index} is a {type(shot).__name__}, expected LocatedShot")
        values = (shot.t_emit, shot.x, shot.y, *np.ravel(shot.cov_xy))
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"shot {index} has a non-finite time, position or covariance")
    return sorted(shots, key=lambda s: s.t_emit)


def same_place(a: LocatedShot, b: LocatedShot, *, same_place_m: float = 10.0) -> bool:
    """Whether two fixes are consistent with one position given their uncertainties."""
    delta = np.array([a.x - b.x, a.y - b.y])
    distance = float(np.hypot(*delta))
    if distance <= same_place_m:
        return True
    cov = np.asarray(a.cov_xy, dtype=float) + np.asarray(b.cov_xy, dtype=float)
    try:
        mahalanobis2 = float(delta @ np.linalg.solve(cov, delta))
    except np.linalg.LinAlgError:
        return False
    return mahalanobis2 <= _CHI2_2DOF_999


def cadence(times, *, burst_gap_s: float = 2.0) -> tuple[float | None, float | None]:
    """(rounds per minute, coefficient of variation) from gaps within bursts."""
    t = np.sort(np.asarray(times, dtype=float))
    gaps = np.diff(t)
    gaps = gaps[(gaps > 0) & (gaps <= burst_gap_s)]
    if len(gaps) == 0:
        return None, None
    rpm = 60.0 / float(np.median(gaps))
    cv = float(np.std(gaps) / np.mean(gaps)) if len(gaps) >= 2 else None
    return rpm, cv


def _group_shooters(shots: list[LocatedShot], *, same_place_m: float) -> list[int]:
    """Greedy grouping: each shot joins the first group with a member at the same place."""
    groups: list[list[int]] = []
    for index, shot in enumerate(shots):
        for group in groups:
            if any(same_place(shot, shots[j], same_place_m=same_place_m) for j in group):
                group.append(index)
                break
        else:
            groups.append([index])
    groups.sort(key=len, reverse=True)
    owner = [0] * len(shots)
    for number, group in enumerate(groups):
        for index in group:
            owner[index] = number
    return owner


def _summarise(
    shots: list[LocatedShot], *, same_place_m: float, automatic_rpm: float, automatic_cv: float
) -> Incident:
    owner = _group_shooters(shots, same_place_m=same_place_m)
    sizes = np.bincount(owner)
    # A lone outlying fix is not evidence of a second shooter; two rounds from a place are.
    n_shooters = max(1, int(np.count_nonzero(sizes >= 2)))
    main_times = [s.t_emit for s, o in zip(shots, owner, strict=True) if o == 0]
    rpm, cv = cadence(main_times)
    automatic = (
        rpm is not None
        and cv is not None
        and len(main_times) >= 3
        and rpm >= automatic_rpm
        and cv <= automatic_cv
    )
    return Incident(
        shots=tuple(shots),
        shooter_of_shot=tuple(owner),
        n_shooters=n_shooters,
        cadence_rpm=rpm,
        cadence_cv=cv,
        automatic=automatic,
    )


def bundle(
    shots,
    *,
    max_gap_s: float = 10.0,
    radius_m: float = 200.0,
    same_place_m: float = 10.0,
    automatic_rpm: float = 400.0,
    automatic_cv: float = 0.15,
) -> list[Incident]:
    """Group located shots into incidents (in time order of their first shot)."""
    if max_gap_s <= 0 or radius_m <= 0:
        raise ValueError("max_gap_s and radius_m must be positive")
    ordered = _check_shots(shots)
    open_groups: list[list[LocatedShot]] = []
    for shot in ordered:
        home = None
        for group in open_groups:
            anchor = group[0]
            if (
                shot.t_emit - group[-1].t_emit <= max_gap_s
                and math.hypot(shot.x - anchor.x, shot.y - anchor.y) <= radius_m
            ):
                home = group
                break
        if home is None:
            open_groups.append([shot])
        else:
            home.append(shot)
    incidents = [
        _summarise(
            group,
            same_place_m=same_place_m,
            automatic_rpm=automatic_rpm,
            automatic_cv=automatic_cv,
        )
        for group in open_groups
    ]
    return sorted(incidents, key=lambda i: i.t_start)
