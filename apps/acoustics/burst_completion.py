"""Burst completion by template: further rounds fired from the place of a located shot.

Rounds of a burst leave from the same place, through the same air, within seconds: every
sensor hears round k at the located round's arrival time plus one common offset (the
difference of the emission times), whatever the propagation does on the way (diffraction
delays, a sensor's clock offset, a wrong sensor height repeat shot after shot). On the
Pittsburgh live fire, 95% of the sensors of two located rounds of one test agree on that
offset within 2 ms (the data are rounded to 1 ms), while the same rounds fit a
straight-line model only to 3-9 ms RMS.

So once a shot is located, a further round needs no position of its own: only its
emission time is unknown. One pulse fixes the offset; every other sensor of the template
confirms it by chance only with the probability that one of its pulses lands within
+-tolerance of its predicted arrival (its local pulse rate). A round is kept when at least
`min_sensors` sensors agree and chance cannot explain them, counting every pulse that
could have set the offset as a separate try (look-elsewhere). Where the free search needs
many sensors because three pulses can fit any source, such a round may need only four.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson


@dataclass(frozen=True)
class TemplateRound:
    # Emission time of the round minus that of the template shot.
    offset_s: float
    # Pulse indices (into the caller's arrays), one per sensor, in template order.
    members: np.ndarray
    # Chance of so many sensors agreeing this well anywhere in the scanned window.
    chance: float


def rounds_matching_template(
    *,
    template_sensors: np.ndarray,
    template_times: np.ndarray,
    pulse_sensors: np.ndarray,
    pulse_times: np.ndarray,
    free: np.ndarray,
    tolerance_s: float,
    min_sensors: int,
    min_offset_s: float,
    max_offset_s: float,
    taken_offsets_s: list[float],
    rate_window_s: float,
    false_alarm_p: float,
    max_peaks: int,
) -> list[TemplateRound]:
    """Rounds whose free pulses repeat the template's arrival pattern at one offset.

    template_sensors/template_times: the located shot's sensors and arrival times.
    pulse_sensors/pulse_times: every pulse of the input (time-sorted is not required);
    `free` marks those not yet in a shot. Offsets within min_offset_s of 0, of
    taken_offsets_s (rounds already located at this place) or of each other are skipped.
    A template has one arrival per sensor (ValueError otherwise).
    """
    template_sensors = np.asarray(template_sensors)
    template_times = np.asarray(template_times, dtype=float)
    pulse_sensors = np.asarray(pulse_sensors)
    pulse_times = np.asarray(pulse_times, dtype=float)
    if len(template_sensors) == 0:
        return []
    # Template position (owner) of each pulse's sensor, -1 for sensors not in the template.
    by_sensor = np.argsort(template_sensors, kind="stable")
    sorted_sensors = template_sensors[by_sensor]
    if np.any(sorted_sensors[1:] == sorted_sensors[:-1]):
        raise ValueError("a template has one arrival per sensor")
    slot = np.minimum(np.searchsorted(sorted_sensors, pulse_sensors), len(sorted_sensors) - 1)
    owner_of = np.where(sorted_sensors[slot] == pulse_sensors, by_sensor[slot], -1)
    # Offsets that the free pulses of template sensors would set, template sensor by
    # template sensor (then pulse order), as the sort below breaks ties in that order.
    delta_of = pulse_times - template_times[owner_of]
    size = np.abs(delta_of)
    usable = (owner_of >= 0) & free & (size >= min_offset_s) & (size <= max_offset_s)
    index = np.flatnonzero(usable)
    index = index[np.argsort(owner_of[index], kind="stable")]
    delta, owner = delta_of[index], owner_of[index]
    tries = len(delta)  # every free pulse could have set the offset
    if tries < min_sensors:
        return []
    order = np.argsort(delta, kind="stable")
    delta, owner, index = delta[order], owner[order], index[order]
    # Windows of width 2 x tolerance holding pulses from enough sensors (entries first,
    # as a cheap bound, then distinct sensors).
    ends = np.searchsorted(delta, delta + 2.0 * tolerance_s, "right")
    entries = ends - np.arange(len(delta))
    starts = np.flatnonzero(entries >= min_sensors)
    if len(starts) == 0:
        return []
    starts = starts[np.argsort(-entries[starts], kind="stable")]
    found: list[TemplateRound] = []
    blocked = [0.0, *taken_offsets_s]
    all_times = None
    for start in starts[:max_peaks]:
        window = slice(start, ends[start])
        if len(set(owner[window].tolist())) < min_sensors:
            continue
        centre = float(np.median(delta[window]))
        if any(abs(centre - b) < min_offset_s for b in blocked):
            continue
        members = _closest_per_sensor(delta, owner, index, centre, tolerance_s)
        if len(members) < min_sensors:
            continue
        if all_times is None:  # every pulse of each template sensor, for local rates
            all_times = [np.sort(pulse_times[pulse_sensors == k]) for k in template_sensors]
        chance = _chance(
            all_times=all_times,
            predicted=template_times + centre,
            member_owners=members[:, 0],
            n=len(members),
            tolerance_s=tolerance_s,
            rate_window_s=rate_window_s,
            tries=tries,
        )
        if chance > false_alarm_p:
            continue
        blocked.append(centre)
        found.append(TemplateRound(offset_s=centre, members=members[:, 1], chance=chance))
    return found


def _closest_per_sensor(delta, owner, index, centre, tolerance_s) -> np.ndarray:
    """(template sensor, pulse index) rows: per sensor the pulse closest to the offset."""
    lo = np.searchsorted(delta, centre - tolerance_s, "left")
    hi = np.searchsorted(delta, centre + tolerance_s, "right")
    best: dict[int, tuple[float, int]] = {}
    for j in range(lo, hi):
        gap = abs(float(delta[j]) - centre)
        k = int(owner[j])
        if k not in best or gap < best[k][0]:
            best[k] = (gap, int(index[j]))
    return np.array([(k, best[k][1]) for k in sorted(best)], dtype=np.intp).reshape(-1, 2)


def _chance(*, all_times, predicted, member_owners, n, tolerance_s, rate_window_s, tries):
    """Probability that chance puts pulses within +-tolerance on n - 1 template sensors
    besides the one that set the offset, for any of `tries` offsets (Poisson, from each
    sensor's pulse rate around its predicted arrival, its own member not counted)."""
    rates = np.empty(len(predicted))
    members = set(member_owners.tolist())
    for k, (times, t) in enumerate(zip(all_times, predicted, strict=True)):
        around = np.searchsorted(times, t + rate_window_s, "right") - np.searchsorted(
            times, t - rate_window_s, "left"
        )
        rates[k] = max(int(around) - (k in members), 0) / (2.0 * rate_window_s)
    lam = float(np.sum(1.0 - np.exp(-rates * 2.0 * tolerance_s)))
    return min(1.0, tries * float(poisson.sf(n - 2, lam)))
