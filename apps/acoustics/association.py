"""Association: group pulses from many sensors into shots, and locate each shot.

Most reported pulses are echoes, reverberation or unrelated bangs. A shot is a set of
pulses, at most one per sensor, whose arrival times agree with straight-line propagation
from one point at one emission time (within `tolerance_s`, 20 ms: real line-of-sight
residuals are a few ms, TN 098 allowed 40).

Method. Seeds are tried strongest pulse first (a shot's loudest pulses are direct arrivals
at its nearest sensors, where the geometry is well conditioned); a pulse that a candidate
already fits well, or that looks like a weaker echo of one, is not tried again.
1. Hypotheses: the seed plus one pulse on each of three of the seed sensor's neighbours
   (pulses that could be the same wavefront, by the triangle inequality) give a 4-pulse
   exact solve (the closed-form linear system of `location`), hundreds at once in numpy.
2. Each hypothesis predicts an arrival at every sensor and is scored by its nearest pulses,
   each counting 1 - (dt/tol)^2, so tight fits beat mixtures of neighbouring rounds.
3. The best hypothesis is refined by robust least squares and re-matched (earliest pulse of
   a multipath cluster) until it is a candidate: >= 4 pulses within the tolerance. Amid
   dense pulses (bursts, two guns, echoes: > 14 pulses/s per sensor) any point collects a
   chance pulse within 20 ms on most sensors, so the candidate keeps only the members
   within the fit width (4-20 ms) that chance explains least (Poisson tail against each
   sensor's local pulse rate); the others stay free for other shots.
4. Candidates are accepted best first (fit-weighted count). An accepted shot consumes its
   pulses; candidates that lost pulses are re-matched. A candidate is refused when
   - it is not significant: three pulses fix any source, and given the local pulse rate
     the others could have landed within its largest residual by chance (Poisson tail;
     more sensors are needed amid dense echoes);
   - it fits much worse than the clearest shots already accepted from the same input
     (mixtures of echoes and neighbouring rounds do);
   - the sensors nearest its source mostly did not hear it (a real shot is heard nearby);
   - it is an accepted shot's reverberation (same place, < 50 ms later); or
   - it is an echo ghost: most of its pulses follow, weaker, an accepted shot's pulses on
     the same sensors while it sits elsewhere (echoes always arrive after the direct path);
     where that shot's place has other accepted rounds fired at a gun's cadence (median
     interval <= 2 s), the echo must also be named by its reflector: on that sensor a
     pulse follows them at the same lag (another gun's rounds are often weaker and later
     too, but keep no lag to this gun's); fireworks' places, their bangs seconds apart and
     scattered, keep the power rule alone (their echoes' lags seldom recur);
   - it is a reflection named by its lags, whatever their power: its pulses follow an
     accepted shot's (elsewhere) on most shared sensors, and those per-sensor lags recur
     after the other accepted rounds from the shot's place;
   - it is a reflection by timing alone: it sits near an accepted shot, its pulses come
     after the shot's on most shared sensors, and it "fires" at the shot's emission time
     (a facade's mirror image) or when the shot's wavefront reaches it (a compact
     reflector, its wavefront drifting with the wind) - echoes are often as loud as the
     direct arrivals, so power cannot tell (and an accepted shot that is such a reflection
     of a later candidate stands aside for it, releasing its pulses);
   - it is a rifle's shock-wave ghost: a virtual source down range, heard before the
     muzzle blast, firing after the shot by a supersonic bullet's flight time; or
   - it is not significant locally: per sensor, the local pulse rate around its predicted
     arrival gives the chance of a pulse within +-w; at some width w (2-16 ms) far more
     sensors must agree than chance allows (amid a burst with echoes a loose fit matches
     most sensors by chance).
Bursts: from each accepted shot's place every unused pulse back-projects to an emission
time; clusters of such times from many sensors are further rounds fired from there, and
seed candidates that pass the same tests.
Pulses that were not tried as seeds because a refused candidate fitted them get a second
seeding pass.
Second look (peeling): amid dense pulses (> 14/s per sensor) the strongest pulses left
free by the accepted shots seed a grid search around their sensor (emission time fixed by
the seed), whose candidates are judged against the shots already accepted; this finds a
second gun whose pulses sampled seeding never combines. Then, around each place with at
least two accepted rounds (dense input only), a back-projection scan: every point of a 2 m
grid within 200 m back-projects the free pulses to emission times; the point where most
agree within 4 ms seeds candidates for another gun nearby. A shot fired from an established
burst place (>= 4 accepted rounds, most of them no reflection of a shot elsewhere) is
another round, never an echo ghost: two guns' rounds follow each other weaker or at an
echo's timing by chance.
Burst completion by template (`burst_completion`): a further round from a located shot's
place repeats that shot's arrival pattern at one offset on every sensor, so only its
emission time is unknown; four sensors agreeing within 2 ms can then be significant where
a free search needs more. It passes the same coverage, repeat, ghost and fit checks.
Incremental use: `seed_pulse_uuids` restricts the seeds (see `associate`).
Matching is done with the source at the median sensor height (2.5D) unless a height is
given, which keeps hilly arrays consistent; the reported fix is 2D unless a height is given.

Sensors farther than `max_range_m` from a source are not matched to it. Work is bounded:
each seed looks at a fixed number of neighbour sensors, pulses and hypotheses, and input so
dense that not even every sensor in range agreeing would be significant is refused with a
clear error.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from apps.acoustics.burst_completion import rounds_matching_template
from apps.acoustics.location import (
    DEFAULT_HUBER_S,
    Fix,
    LocationError,
    refine,
    shot_from_fix,
    three_sensor_solutions,
)
from apps.acoustics.numbers import finite_float
from apps.acoustics.types import LocatedShot, Pulse


class AssociationError(ValueError):
    """Input that cannot be associated (bad values or hopelessly dense pulses)."""


@dataclass(frozen=True)
class AssociationConfig:
    # Final consistency: a pulse belongs to a shot when within this of the fitted arrival.
    tolerance_s: float = 0.020
    # Looser tolerance used to score the 4-pulse hypotheses (they carry more noise).
    search_tolerance_s: float = 0.025
    min_sensors: int = 4
    neighbour_sensors: int = 5
    pulses_per_neighbour: int = 6
    max_hypotheses: int = 400
    # Where the sensors around a candidate report more than trim_min_rate_hz pulses/s
    # (median), its members are trimmed to the fit width (one of these) least likely by
    # chance; a narrower width must be more significant by trim_margin (natural log).
    trim_widths_s: tuple[float, ...] = (0.004, 0.006, 0.008, 0.012, 0.020)
    trim_margin: float = 4.6
    trim_min_rate_hz: float = 14.0
    # A candidate's pulse within this fraction of the tolerance is not tried as a seed.
    explained_fraction: float = 0.75
    # Re-matching tolerances while polishing a hypothesis (then tolerance_s).
    polish_tolerances_s: tuple[float, ...] = (0.030,)
    polish_attempts: int = 1
    # Sources farther than this outside the sensors' bounding box are not considered.
    region_margin_m: float = 2000.0
    # Gunfire is not reported from farther than this: sensors beyond it are neither matched
    # to a source nor counted when judging chance coincidences (keeps city-wide arrays sane).
    max_range_m: float = 4000.0
    # Associate with the source at the median sensor height (2.5D) when no height is given.
    match_at_median_height: bool = True
    # Pulses on one sensor this close together are one blast's direct path and multipath;
    # the earliest is taken.
    multipath_s: float = 0.010
    # Echo handling: how long after a direct pulse an echo may arrive, and how much weaker
    # (power dB SPL, or SNR dB when power is missing) it must be to count as its echo.
    echo_window_s: float = 3.0
    echo_power_drop_db: float = 2.0
    echo_snr_drop_db: float = 8.0
    # A candidate is a ghost if this share of its pulses are echoes of an accepted shot.
    ghost_share: float = 0.6
    # An echo is named by its reflector: a reflection follows every round fired from one
    # place at the same lag on a sensor. Where the accepted shot has at least
    # echo_recur_rounds other accepted rounds from its place heard on the sensor, a weaker
    # later pulse is its echo only if a pulse follows at least echo_recur_share of those
    # rounds at the same lag (within echo_recur_tolerance_s); another gun's round does not
    # keep one lag to this gun's rounds. 0 rounds turns it off.
    echo_recur_rounds: int = 2
    echo_recur_share: float = 0.5
    echo_recur_tolerance_s: float = 0.003
    # The naming holds only where the shot's place fires as a gun does, its accepted rounds
    # (at least echo_recur_rounds + 1) a median interval of at most echo_cadence_max_s apart
    # (semi-automatic fire 0.15-0.3 s, with missed rounds rarely over 1 s). Fireworks'
    # places (mortar shells, large firecrackers, scattered bangs seconds apart) keep the
    # power rule alone: their echoes' lags seldom recur to name them by. 0 turns it off.
    echo_cadence_max_s: float = 2.0
    # A candidate is a reflection of an accepted shot when its pulses follow the shot's on
    # most shared sensors and the same per-sensor lags recur after the other accepted rounds
    # from the shot's place (a pulse within echo_recur_tolerance_s on at least
    # reflection_recur_share of those sensor-rounds, at least reflection_min_checks of them).
    reflection_recur_share: float = 0.5
    reflection_min_checks: int = 8
    # A place from which this many accepted shots were fired is a gun's (a reflector's ghost
    # would have been refused as such): a further shot from there that happens to fit an
    # echo's timing or level is another round, not a ghost.
    burst_place_rounds: int = 4
    # Peeling: once the clear shots (and their bursts) are accepted and their pulses
    # consumed, the peel_seeds strongest free pulses seed a grid search (peel_step_m, within
    # peel_radius_m of the seed's sensor), so a second gun drowned among the first one's
    # rounds and echoes is found; its candidates are judged against the accepted shots.
    peel_seeds: int = 40
    peel_radius_m: float = 300.0
    peel_step_m: float = 8.0
    peel_rate_window_s: float = 1.0
    # Back-projection scan: around each burst place (>= scan_rounds accepted rounds) amid
    # dense pulses, every point of a scan_step_m grid within scan_radius_m back-projects the
    # free pulses to emission times, counted in scan_bin_s bins (two offsets); the points
    # and times where most pulses agree seed candidates (another gun nearby).
    scan_rounds: int = 2
    scan_radius_m: float = 200.0
    scan_step_m: float = 2.0
    scan_bin_s: float = 0.004
    scan_places: int = 1
    scan_times: int = 3
    # Timing ghosts: a reflection is a secondary source excited by the shot's wavefront.
    # A facade (mirror image) fires at the shot's emission time from the mirrored point; a
    # compact reflector fires when the wavefront reaches it (t_shot + distance / c). A
    # candidate elsewhere (within ghost_max_distance_m) whose emission time matches either
    # to within ghost_time_tolerance_s (plus its position uncertainty along the line to
    # the shot) and whose pulses come after the shot's on most shared sensors is an echo.
    ghost_time_tolerance_s: float = 0.004
    ghost_max_distance_m: float = 400.0
    # Shock-wave ghosts: within this distance of a shot, and heard before its muzzle blast
    # on this share of the shared sensors.
    shock_max_m: float = 1000.0
    shock_share: float = 0.5
    shock_lag_fraction: tuple[float, float] = (0.25, 0.6)
    # Bursts: every shot of a burst comes from the same place. From each accepted shot's
    # place, each unused pulse back-projects to an emission time (arrival - travel time);
    # other rounds show up as clusters of such times from many sensors within
    # burst_width_s, which then seed candidates at that place (up to burst_window_s away).
    burst_width_s: float = 0.008
    burst_window_s: float = 10.0
    burst_passes: int = 3
    max_burst_peaks: int = 200
    # Burst completion by template: a further round repeats a located shot's arrival
    # pattern on every sensor within this (two 1 ms-rounded picks; 95% of the live-fire
    # rounds of one test agree within 2 ms). 0 turns it off.
    template_tolerance_s: float = 0.002
    # Local significance: per-sensor pulse rates within +-local_rate_window_s of the
    # predicted arrival, and the fit widths at which agreement is judged.
    local_rate_window_s: float = 0.25
    significance_widths_s: tuple[float, ...] = (0.002, 0.004, 0.008, 0.016)
    # Shots this close to an accepted shot are repeats (a burst), never its echo ghosts...
    same_place_m: float = 20.0
    # ...unless closer in time than this: then they are that shot's reverberation (bursts
    # of automatic fire are >= 60 ms apart).
    min_shot_interval_s: float = 0.050
    # A shot may fit at most this many times worse (residual RMS) than the shots already
    # accepted from the same input, and always up to the floor.
    rms_gate_factor: float = 2.0
    rms_gate_floor_s: float = 0.006
    # A real shot is heard by the sensors nearest to it: at least this share of the n
    # sensors nearest the fitted source (n = sensors in the shot) must be in the shot.
    min_near_coverage: float = 0.5
    # Significance: three pulses fix any source; each further sensor agreeing within the
    # candidate's largest residual w happens by chance at Poisson rate lam = local pulse
    # rate x 2w. A shot needs n sensors with P(Poisson(lam) >= n - 3) <= this. In quiet
    # conditions 4 sensors suffice; amid dense echoes more are needed (TN 098: 4 sensors
    # detect an inconsistency, 5+ allow rejecting it, 6+ are reliable).
    false_alarm_p: float = 3e-4
    # Chance matches are counted within the candidate's own largest residual, not less
    # than this (the timing noise floor).
    min_fit_half_width_s: float = 0.003
    # With only three sensors, offer unambiguous 3-pulse fits as confident=False candidates.
    three_sensor_candidates: bool = False
    max_three_sensor_seeds: int = 500
    random_seed: int = 0


DEFAULT_CONFIG = AssociationConfig()


@dataclass
class _Candidate:
    fix: Fix
    members: np.ndarray  # pulse indices (into the time-sorted arrays), one per sensor
    score: float


class _Pulses:
    """Time-sorted pulse arrays plus a per-sensor search structure over unused pulses."""

    def __init__(self, pulses: list[Pulse]):
        order = sorted(range(len(pulses)), key=lambda i: pulses[i].t)
        self.items = [pulses[i] for i in order]
        self.t0 = self.items[0].t
        self.t = np.array([p.t - self.t0 for p in self.items])
        sensor_ids = sorted({p.sensor_id for p in self.items})
        index = {sid: k for k, sid in enumerate(sensor_ids)}
        self.sensor = np.array([index[p.sensor_id] for p in self.items])
        last = {p.sensor_id: p for p in self.items}  # a sensor's latest reported position
        positions = np.array([(last[s].x, last[s].y, last[s].z) for s in sensor_ids], dtype=float)
        self.sensor_ids = sensor_ids
        self.positions = positions.reshape(len(sensor_ids), 3)
        self.snr = np.array([np.nan if p.snr_db is None else p.snr_db for p in self.items])
        self.power = np.array(
            [np.nan if p.power_db_spl is None else p.power_db_spl for p in self.items]
        )
        self.used = np.zeros(len(self.items), dtype=bool)
        span = float(self.t[-1]) + 100.0
        self._stride = span
        # Every pulse (used or not) by sensor then time, for local pulse rates.
        self.all_stride = span
        self.all_keys = np.sort(self.sensor * span + self.t)
        self._rebuild()

    def _rebuild(self) -> None:
        keep = np.flatnonzero(~self.used)
        keys = self.sensor[keep] * self._stride + self.t[keep]
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._index = keep[order]
        # For `nearest`: the key just below or above a query is the nearer one when the
        # query is below or above their midpoint. Sensors' key blocks are 100 s apart, so
        # a pulse within 50 s of the query is nearer than any other sensor's.
        self._midpoints = 0.5 * (self._keys[:-1] + self._keys[1:])
        self._sorted_t = self.t[self._index]
        self._sorted_sensor = self.sensor[self._index]

    def consume(self, members) -> None:
        self.used[members] = True
        self._rebuild()

    def release(self, members) -> None:
        self.used[members] = False
        self._rebuild()

    def nearest(self, sensors: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest unused pulse on each given sensor to each given time: (index, |dt|).

        (-1, inf) when the sensor has no unused pulse within 50 s of the time."""
        if len(self._keys) == 0:
            shape = np.broadcast(sensors, times).shape
            return np.full(shape, -1), np.full(shape, np.inf)
        # The nearest key, found among the midpoints of consecutive keys, counts only on the
        # same sensor (keys are sensor-major). Written with few numpy calls: it runs for
        # every hypothesis batch.
        near = np.searchsorted(self._midpoints, sensors * self._stride + times)
        dt = np.abs(self._sorted_t[near] - times)
        ok = (self._sorted_sensor[near] == sensors) & (dt < 50.0)
        return np.where(ok, self._index[near], -1), np.where(ok, dt, np.inf)

    def earliest_within(self, sensors: np.ndarray, times: np.ndarray, tolerance: float):
        """Earliest unused pulse on each sensor within +-tolerance of each time: (index, ok).

        The direct path arrives first; the same blast's multipath follows within ms.
        """
        shape = np.broadcast(sensors, times).shape
        if len(self._keys) == 0:
            return np.full(shape, -1), np.zeros(shape, dtype=bool)
        sensors, times = np.broadcast_arrays(sensors, times)
        pos = np.searchsorted(self._keys, sensors * self._stride + times - tolerance)
        clipped = np.minimum(pos, len(self._keys) - 1)
        ok = (
            (pos < len(self._keys))
            & (self._sorted_sensor[clipped] == sensors)
            & (np.abs(self._sorted_t[clipped] - times) <= tolerance)
        )
        return np.where(ok, self._index[clipped], -1), ok

    def on_sensor_between(self, sensor: int, start: float, end: float) -> np.ndarray:
        """Unused pulses on a sensor with start <= t <= end, in time order."""
        lo = np.searchsorted(self._keys, sensor * self._stride + start, side="left")
        hi = np.searchsorted(self._keys, sensor * self._stride + end, side="right")
        return self._index[lo:hi]

    def on_sensors_between(self, sensors: np.ndarray, starts, ends) -> list[np.ndarray]:
        """`on_sensor_between` for several sensors (and windows) with one lookup each way."""
        los = np.searchsorted(self._keys, sensors * self._stride + starts, side="left")
        his = np.searchsorted(self._keys, sensors * self._stride + ends, side="right")
        return [self._index[lo:hi] for lo, hi in zip(los.tolist(), his.tolist(), strict=True)]


def _validate(pulses: list[Pulse]) -> None:
    seen: set[str] = set()
    for p in pulses:
        values = (p.t, p.x, p.y, p.z)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise AssociationError(f"pulse {p.pulse_uuid}: time and position must be finite")
        if p.pulse_uuid in seen:
            raise AssociationError(f"duplicate pulse_uuid {p.pulse_uuid}")
        seen.add(p.pulse_uuid)


def _searchable(data: _Pulses, config: AssociationConfig) -> bool:
    """Whether any shot could be told from a chance coincidence in this input.

    Around each pulse (+-1 s) count the pulses of sensors within range of its sensor: a
    hypothesis there expects rate * 2 * half-width chance matches. If even every sensor in
    range agreeing to the timing-noise floor would not be significant, nothing can be
    located. That is refused with an error when the input is dense (a chance match or more
    expected per hypothesis: flooding or a broken sensor), and is simply an empty result
    when it only means a small array. A shot's own pulses are not chance matches: the
    window's count leaves out one pulse per sensor in range (as many as a shot there could
    hold), so four sensors that hear one shot and nothing else still locate it.
    """
    window = 1.0
    gaps = np.hypot(*(data.positions[:, None, :2] - data.positions[None, :, :2]).transpose(2, 0, 1))
    in_range = gaps <= config.max_range_m
    lo = np.searchsorted(data.t, data.t - window, side="left")
    hi = np.searchsorted(data.t, data.t + window, side="right")
    # heard[r, k]: pulses among the first k from sensors in range of sensor r, so pulse i's
    # window [lo, hi) holds heard[sensor_i, hi] - heard[sensor_i, lo]. A block of sensors
    # at a time bounds the table's size.
    n = len(data.t)
    counts = np.zeros(n, dtype=np.int64)
    block = max(1, 4_000_000 // (n + 1))
    for first in range(0, len(in_range), block):
        heard = np.zeros((min(block, len(in_range) - first), n + 1), dtype=np.int64)
        np.cumsum(in_range[first : first + block, data.sensor], axis=1, out=heard[:, 1:])
        mine = np.flatnonzero((data.sensor >= first) & (data.sensor < first + block))
        row = data.sensor[mine] - first
        counts[mine] = heard[row, hi[mine]] - heard[row, lo[mine]]
    sensors_in_range = in_range.sum(axis=1)
    others = np.maximum(counts - sensors_in_range[data.sensor], 0)
    worst_rate = int(others.max()) / (2.0 * window)
    worst = worst_rate * 2.0 * config.min_fit_half_width_s
    needed = _sensors_needed(worst, minimum=config.min_sensors, false_alarm_p=config.false_alarm_p)
    available = int(sensors_in_range.max())
    if needed <= available:
        return True
    if worst < 1.0:
        return False
    raise AssociationError(
        f"pulses too dense to associate: up to {worst_rate:.0f} pulses/s from sensors "
        f"within {config.max_range_m:.0f} m of each other, so about {worst:.1f} chance "
        f"matches per hypothesis; a shot would need {needed} agreeing sensors but at "
        f"most {available} are in range. Split the input or check the sensors"
    )


def _sensors_needed(lam: float, *, minimum: int, false_alarm_p: float) -> int:
    """Smallest n >= minimum with P(Poisson(lam) >= n - 3) <= false_alarm_p.

    Three pulses fix any source (x, y and the emission time); only the others can confirm
    it, each landing near its prediction by chance with Poisson rate lam.
    """
    term = math.exp(-lam)  # P(N = 0)
    below = 0.0  # P(N < n)
    n = 0
    while True:
        if n + 3 >= minimum and 1.0 - below <= false_alarm_p:
            return n + 3
        below += term
        n += 1
        term *= lam / n
        if n > 1000:
            return n


_NEXT, _AFTER = np.array([1, 2, 0]), np.array([2, 0, 1])


def _minimal_solutions(rel_pos: np.ndarray, ranges: np.ndarray, offsets: np.ndarray):
    """Batched exact solve of 4-pulse sets: rel_pos (m,4,2), ranges (m,4) and offsets
    (|p_i|^2 + dz_i^2, m x 4) -> (x, y, b) (m, 3), ok (m,).

    Row i of the linear system is -2 p_i . (x, y) + 2 r_i b + w = r_i^2 - |p_i|^2 - dz_i^2
    (w = |p|^2 - b^2). Subtracting row 0 removes w and leaves a 3x3 system per set, solved
    through its cofactors with a few numpy calls and no reductions along short axes
    (np.linalg.solve on (m, 4, 4) costs a LAPACK call per set). A set counts as degenerate
    when the 4x4 system with columns scaled to at most 1 has |det| <= 1e-6; that
    determinant is the 3x3 one over the column scales.
    """
    rows = np.concatenate([rel_pos, ranges[..., None]], axis=-1)  # (m, 4, 3): x, y, range
    rhs = ranges * ranges - offsets
    # M z = e with z = (-2 x, -2 y, 2 b).
    m = rows[:, 1:] - rows[:, :1]
    e = rhs[:, 1:] - rhs[:, :1]
    # Cofactor matrix: cof[i, j] = m[i+1, j+1] m[i+2, j+2] - m[i+1, j+2] m[i+2, j+1].
    m1, m2 = m.take(_NEXT, axis=1), m.take(_AFTER, axis=1)
    cof = m1.take(_NEXT, axis=2) * m2.take(_AFTER, axis=2)
    cof -= m1.take(_AFTER, axis=2) * m2.take(_NEXT, axis=2)
    # e^T cof = det z^T, and the first column of m against cof gives (det, 0, 0).
    products = np.matmul(np.stack([e, m[:, :, 0]], axis=1), cof)
    det = products[:, 1, 0]
    size = np.abs(rows)
    size = np.maximum(np.maximum(size[:, 0], size[:, 1]), np.maximum(size[:, 2], size[:, 3]))
    ok = np.abs(det) > 1e-6 * size[:, 0] * size[:, 1] * size[:, 2]
    z = products[:, 0] / np.where(ok, det, 1.0)[:, None]
    return np.where(ok[:, None], z * [-0.5, -0.5, 0.5], 0.0), ok


class _Associator:
    def __init__(self, pulses, *, c, wind_xy, source_z, config):
        self.data = _Pulses(pulses)
        self.c = c
        self.wind = np.asarray(wind_xy, dtype=float)[:2]
        self.source_z = source_z
        # Matching pulses in 2D ignores sensor heights, which in hilly terrain misplaces
        # arrivals by tens of ms; without a terrain model, put the source at the median
        # sensor height while associating. The reported fix uses the caller's choice.
        heights = self.data.positions[:, 2]
        self.match_z = source_z if source_z is not None else float(np.median(heights))
        if not config.match_at_median_height and source_z is None:
            self.match_z = None
        self.config = config
        self.rng = np.random.default_rng(config.random_seed)
        data = self.data
        strength = np.where(np.isnan(data.power), data.snr, data.power)
        self.strength = np.where(np.isnan(strength), 0.0, strength)
        pos = self.data.positions
        self.centre = pos[:, :2].mean(axis=0)
        self.rel_xy = pos[:, :2] - self.centre
        self.rel_positions = np.column_stack([self.rel_xy, pos[:, 2]])  # for `_fit`
        self.dz = np.zeros(len(pos)) if self.match_z is None else pos[:, 2] - self.match_z
        lo, hi = self.rel_xy.min(axis=0), self.rel_xy.max(axis=0)
        self.region = (lo - config.region_margin_m, hi + config.region_margin_m)
        gaps = np.hypot(*(self.rel_xy[:, None, :] - self.rel_xy[None, :, :]).transpose(2, 0, 1))
        self.sensor_gap_s = np.sqrt(gaps**2 + (self.dz[:, None] - self.dz[None, :]) ** 2) / c
        # Largest arrival-time difference of one wavefront on two sensors, while searching.
        self.search_reach_s = self.sensor_gap_s + config.search_tolerance_s
        self.neighbours = np.argsort(gaps, axis=1)[:, 1 : 1 + config.neighbour_sensors]
        # Contiguous columns and flags for `_predict`, which runs thousands of times.
        self.rel_x, self.rel_y = self.rel_xy[:, 0].copy(), self.rel_xy[:, 1].copy()
        self.dz2 = self.dz**2
        self.offsets = self.rel_x**2 + self.rel_y**2 + self.dz2  # |p|^2 + dz^2 per sensor
        self.has_wind = bool(np.any(self.wind))

    # -- prediction and matching -------------------------------------------------------
    def _predict(self, x, y, t_emit) -> np.ndarray:
        """Predicted arrival times (relative) at every sensor for sources (..,); NaN for
        sensors out of range, which then match nothing."""
        dx = self.rel_x - np.asarray(x)[..., None]
        dy = self.rel_y - np.asarray(y)[..., None]
        # In place where it can: this runs on hundreds of hypotheses x every sensor.
        dist = dx * dx
        dist += dy * dy
        dist += self.dz2
        np.sqrt(dist, out=dist)
        np.copyto(dist, np.nan, where=dist > self.config.max_range_m)
        # First-order wind effect: the wavefront drifts with the air (TN 098 shift).
        if self.has_wind:
            along = dx * self.wind[0]
            along += dy * self.wind[1]
            along /= np.maximum(dist, 1e-9)
            along /= self.c
            along += 1.0
            dist /= along
        dist /= self.c
        dist += np.asarray(t_emit)[..., None]
        return dist

    def _match(self, x, y, t_emit, tolerance) -> np.ndarray:
        """Per sensor the pulse nearest the predicted arrival, or an earlier one of the same
        blast (within multipath_s before it): the direct path arrives first."""
        data = self.data
        predicted = self._predict(x, y, t_emit)
        sensors = np.arange(len(data.sensor_ids))
        idx, dt = data.nearest(sensors, predicted)
        ok = dt <= tolerance
        idx, sensors, predicted = idx[ok], sensors[ok], predicted[ok]
        window = self.config.multipath_s / 2
        centre = np.maximum(data.t[idx] - window, predicted - tolerance + window)
        earlier, found = data.earliest_within(sensors, centre, window)
        return np.where(found & (earlier >= 0), earlier, idx)

    def _fit(
        self, members: np.ndarray, start, max_iter: int = 15, final: bool = False
    ) -> Fix | None:
        data = self.data
        try:
            return refine(
                sensors=self.rel_positions[data.sensor[members]],
                times=data.t[members],
                c=self.c,
                start=start,
                source_z=self.source_z if final else self.match_z,
                wind_xy=self.wind,
                huber_s=DEFAULT_HUBER_S,
                max_iter=max_iter,
            )
        except LocationError:
            return None

    def _polish(self, start, members=None) -> _Candidate | None:
        """Alternate robust fit and re-matching with a tightening tolerance."""
        cfg = self.config
        x, y, t_emit = start
        if members is None:
            members = self._match(x, y, t_emit, cfg.search_tolerance_s)
        for tolerance in cfg.polish_tolerances_s:
            if len(members) < cfg.min_sensors:
                return None
            fix = self._fit(members, (x, y, t_emit), max_iter=4)
            if fix is None:
                return None
            x, y, t_emit = fix.x, fix.y, fix.t_emit
            members = self._match(x, y, t_emit, tolerance)
        if len(members) < cfg.min_sensors:
            return None
        fix = self._fit(members, (x, y, t_emit))
        if fix is None:
            return None
        keep = np.abs(fix.residuals_s) <= cfg.tolerance_s
        if not np.all(keep):
            members = members[keep]
            if len(members) < cfg.min_sensors:
                return None
            fix = self._fit(members, (fix.x, fix.y, fix.t_emit))
        if fix is None or not self._in_region(fix.x, fix.y):
            return None
        members, fix = self._tighten(members, fix)
        if fix is None or not self._in_region(fix.x, fix.y):
            return None
        # Each pulse counts by how well it fits: a shot whose pulses agree to a few ms beats
        # a mixture of neighbouring rounds and echoes that only just fits.
        score = float(np.sum(1.0 - (fix.residuals_s / cfg.tolerance_s) ** 2))
        return _Candidate(fix=fix, members=members, score=score)

    def _local_rates(self, fix: Fix, members: np.ndarray) -> np.ndarray:
        """Pulses per second on each sensor in range around its predicted arrival (not
        counting the candidate's own pulse)."""
        cfg, data = self.config, self.data
        predicted = self._predict(fix.x, fix.y, fix.t_emit)
        sensors = np.flatnonzero(np.isfinite(predicted))
        window = cfg.local_rate_window_s
        keys = sensors * data.all_stride
        lo = np.searchsorted(data.all_keys, keys + predicted[sensors] - window, "left")
        hi = np.searchsorted(data.all_keys, keys + predicted[sensors] + window, "right")
        own = np.zeros(len(predicted), dtype=bool)
        own[data.sensor[members]] = True
        return np.maximum(hi - lo - own[sensors], 0) / (2.0 * window)

    def _tighten(self, members: np.ndarray, fix: Fix) -> tuple[np.ndarray, Fix | None]:
        """Keep the members within the fit width that is least likely by chance.

        Amid bursts, two guns and their echoes a sensor reports a pulse every 20-50 ms, so
        any point finds one within the 20 ms tolerance on most sensors: a true shot's
        direct arrivals fit within a few ms, the chance matches it collects spread over the
        whole tolerance. For each width w, the members within w are compared with the
        number of sensors expected to have a pulse within w by chance (Poisson, from each
        sensor's local pulse rate); the width with the smallest tail probability wins, a
        narrower one only when clearly better. Sparse input keeps the full tolerance.
        """
        cfg = self.config
        if not cfg.trim_widths_s:
            return members, fix
        rate = self._local_rates(fix, members)
        if float(np.median(rate)) < cfg.trim_min_rate_hz:
            return members, fix
        residuals = np.abs(fix.residuals_s)
        best_width, best = None, 0.0
        for width in sorted(cfg.trim_widths_s, reverse=True):
            n = int(np.count_nonzero(residuals <= width))
            if n < cfg.min_sensors:
                break
            lam = float(np.sum(1.0 - np.exp(-rate * 2.0 * width)))
            log_p = float(poisson.logsf(n - 4, lam))
            if best_width is None or log_p < best - cfg.trim_margin:
                best_width, best = width, log_p
        if best_width is None or best_width >= residuals.max():
            return members, fix
        members = members[residuals <= best_width]
        refit = self._fit(members, (fix.x, fix.y, fix.t_emit))
        if refit is None:
            return members, None
        rematched = self._match(refit.x, refit.y, refit.t_emit, best_width)
        if len(rematched) >= len(members):
            again = self._fit(rematched, (refit.x, refit.y, refit.t_emit))
            if again is not None and np.all(np.abs(again.residuals_s) <= best_width * 1.5):
                return rematched, again
        return members, refit

    def _in_region(self, x, y) -> np.ndarray:
        lo, hi = self.region
        return (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])

    # -- hypotheses from one seed --------------------------------------------------------
    def _feasible_triples(self, pools: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """One pulse from each of three different pools (neighbour sensor, its pulses) whose
        pairwise time differences are at most the sensors' separation / c plus the search
        tolerance (pulses of one wavefront), as (m, 3) pulse indices.

        Order: pool triples as itertools.combinations gives them, then each triple's pulses
        in grid order, which the sampling of hypotheses depends on. Built at once over all
        pools' pulses (at most 5 x 6, so a 30^3 cube) instead of a loop over the triples.
        """
        data = self.data
        pulse = np.concatenate([near for _, near in pools])
        pool_of = np.repeat(np.arange(len(pools)), [len(near) for _, near in pools])
        sensor = np.array([b for b, _ in pools])[pool_of]
        t = data.t[pulse]
        reach = self.search_reach_s[sensor[:, None], sensor[None, :]]
        # fits[i, j]: pulse i's pool precedes pulse j's and their times are compatible.
        fits = (np.abs(t[:, None] - t[None, :]) <= reach) & (pool_of[:, None] < pool_of[None, :])
        i, j, k = np.nonzero(fits[:, :, None] & fits[:, None, :] & fits[None, :, :])
        n_pools = len(pools)
        triple = (pool_of[i] * n_pools + pool_of[j]) * n_pools + pool_of[k]
        order = np.argsort(triple, kind="stable")
        return pulse[np.column_stack([i, j, k])[order]]

    def _hypotheses(self, seed: int, explained: np.ndarray) -> _Candidate | None:
        cfg, data = self.config, self.data
        a = data.sensor[seed]
        t_seed = data.t[seed]
        # Pulses on each neighbour that could be the seed's wavefront (one vectorised
        # lookup for all neighbours: this runs for every seed).
        neighbours = self.neighbours[a]
        reach = self.search_reach_s[a, neighbours]
        pools = []
        windows = data.on_sensors_between(neighbours, t_seed - reach, t_seed + reach)
        for b, near in zip(neighbours.tolist(), windows, strict=True):
            if len(near) > cfg.pulses_per_neighbour:
                # Keep the strongest: direct arrivals are usually louder than their echoes.
                strongest = np.argsort(-self.strength[near], kind="stable")
                near = near[np.sort(strongest[: cfg.pulses_per_neighbour])]
            if len(near):
                pools.append((b, near))
        if len(pools) < cfg.min_sensors - 1:
            return None
        sets = self._feasible_triples(pools)
        if len(sets) == 0:
            return None
        if len(sets) > cfg.max_hypotheses:
            sets = sets[self.rng.choice(len(sets), cfg.max_hypotheses, replace=False)]
        members = np.column_stack([np.full(len(sets), seed), sets])
        sensor = data.sensor[members]
        times = data.t[members]
        solution, ok = _minimal_solutions(self.rel_xy[sensor], self.c * times, self.offsets[sensor])
        x, y, b = solution.T
        t_emit = b / self.c
        ok &= self._in_region(x, y) & (t_emit <= times.min(axis=1) + 1e-3)
        if not ok.all():
            if not ok.any():
                return None
            x, y, t_emit = x[ok], y[ok], t_emit[ok]
        predicted = self._predict(x, y, t_emit)
        sensors = np.arange(len(data.sensor_ids))
        matched, dt = data.nearest(sensors[None, :], predicted)
        tol = cfg.search_tolerance_s
        inlier = dt <= tol
        support = inlier.sum(axis=1)
        # MSAC-style score: each inlier counts 1 - (dt/tol)^2, so a hypothesis that fits its
        # pulses to a few ms beats one that collects the neighbouring round's pulses at the
        # edge of the tolerance (rounds of a burst can be 60 ms apart).
        score = np.sum(np.where(inlier, 1.0 - (dt / tol) ** 2, 0.0), axis=1)
        # Polish the best few hypotheses: the top one can be a near-miss that mixes in a
        # pulse of a neighbouring wavefront and falls apart when tightened.
        best_first = np.argsort(-score)[: cfg.polish_attempts]
        for best in best_first:
            if support[best] < cfg.min_sensors:
                break
            arrivals = predicted[best][inlier[best]]
            needed = self._sensors_needed(
                x[best],
                y[best],
                arrivals.min(),
                arrivals.max(),
                support[best],
                float(dt[best][inlier[best]].max()),
            )
            if support[best] < needed:
                break
            if np.mean(explained[matched[best][inlier[best]]]) > 0.8:
                return None  # mostly an existing candidate's pulses: it would repeat it
            candidate = self._polish((x[best], y[best], t_emit[best]))
            if candidate is not None:
                return candidate
        return None

    # -- echoes and ghosts ----------------------------------------------------------------
    def _is_echo_of(self, pulse: int, direct: int) -> bool:
        """Could `pulse` be an echo of `direct` (same sensor, later, weaker)?"""
        data, cfg = self.data, self.config
        delay = data.t[pulse] - data.t[direct]
        if not 0.0 < delay <= cfg.echo_window_s:
            return False
        snr_drop = data.snr[direct] - data.snr[pulse]
        power_drop = data.power[direct] - data.power[pulse]
        # Peak power is the better witness: rounds of one gun differ by ~1 dB at a sensor,
        # while SNR also drops for a second round (the first one's reverberation).
        if not np.isnan(power_drop):
            return bool(power_drop >= cfg.echo_power_drop_db)
        if not np.isnan(snr_drop):
            return bool(snr_drop >= cfg.echo_snr_drop_db)
        return True  # no strength data: timing alone

    def _ghost_share(self, candidate: _Candidate, accepted: list[_Candidate]) -> float:
        data, cfg = self.data, self.config
        shots = [
            shot
            for shot in accepted
            if math.hypot(candidate.fix.x - shot.fix.x, candidate.fix.y - shot.fix.y)
            > cfg.same_place_m
        ]
        echoes = 0
        at_cadence: dict[int, bool] = {}  # per shot, for this call's accepted shots
        for pulse in candidate.members:
            for shot in shots:
                same_sensor = shot.members[data.sensor[shot.members] == data.sensor[pulse]]
                if not len(same_sensor) or not self._is_echo_of(pulse, int(same_sensor[0])):
                    continue
                if self._lag_recurs(int(pulse), int(same_sensor[0]), shot, accepted, at_cadence):
                    echoes += 1
                    break
        return echoes / len(candidate.members)

    def _lag_recurs(
        self, pulse: int, direct: int, shot: _Candidate, accepted, at_cadence: dict[int, bool]
    ) -> bool:
        """Does a pulse follow the other rounds from the shot's place on this sensor at the
        same lag as `pulse` follows `direct` (one reflector)? True when too few such rounds
        were heard there to tell, or when the place does not fire at a gun's cadence
        (``_fires_at_cadence``, worked out once per shot in ``at_cadence``)."""
        data, cfg = self.data, self.config
        if cfg.echo_recur_rounds <= 0:
            return True
        sensor = data.sensor[pulse]
        times = [
            data.t[m]
            for other in accepted
            if other is not shot
            and math.hypot(other.fix.x - shot.fix.x, other.fix.y - shot.fix.y) <= cfg.same_place_m
            for m in other.members
            if data.sensor[m] == sensor
        ]
        if len(times) < cfg.echo_recur_rounds:
            return True
        if cfg.echo_cadence_max_s > 0:
            if id(shot) not in at_cadence:
                at_cadence[id(shot)] = self._fires_at_cadence(shot, accepted)
            if not at_cadence[id(shot)]:
                return True
        keys = sensor * data.all_stride + np.asarray(times) + (data.t[pulse] - data.t[direct])
        tol = cfg.echo_recur_tolerance_s
        lo = np.searchsorted(data.all_keys, keys - tol, "left")
        hi = np.searchsorted(data.all_keys, keys + tol, "right")
        return bool(np.count_nonzero(hi > lo) >= cfg.echo_recur_share * len(times))

    def _fires_at_cadence(self, shot: _Candidate, accepted: list[_Candidate]) -> bool:
        """Were the accepted rounds from the shot's place fired at a gun's cadence (median
        interval at most echo_cadence_max_s), not seconds apart as fireworks are?"""
        cfg = self.config
        times = np.sort(
            [
                other.fix.t_emit
                for other in accepted
                if math.hypot(other.fix.x - shot.fix.x, other.fix.y - shot.fix.y)
                <= cfg.same_place_m
            ]
        )
        gaps = np.diff(times)
        return len(gaps) >= 2 and float(np.median(gaps)) <= cfg.echo_cadence_max_s

    def _timing_ghost_of(self, candidate: _Candidate, shot: _Candidate) -> bool:
        """Is the candidate explained as a reflection of the accepted shot, by timing alone?"""
        cfg, data = self.config, self.data
        gx, gy = candidate.fix.x - shot.fix.x, candidate.fix.y - shot.fix.y
        distance = math.hypot(gx, gy)
        if not cfg.same_place_m < distance <= max(cfg.ghost_max_distance_m, cfg.shock_max_m):
            return False
        u = np.array([gx, gy]) / distance
        spread = math.sqrt(max(float(u @ (candidate.fix.cov_xy + shot.fix.cov_xy) @ u), 0.0))
        tolerance = cfg.ghost_time_tolerance_s + 2.0 * spread / self.c
        lag = candidate.fix.t_emit - shot.fix.t_emit
        # The shot's wavefront reaches the reflector drifting with the wind.
        reach_s = distance / (self.c + float(u @ self.wind))
        echo_timing = distance <= cfg.ghost_max_distance_m and (
            abs(lag) <= tolerance or abs(lag - reach_s) <= tolerance
        )
        # A supersonic bullet's shock waves look like a source down range that "fires"
        # after the shot but before its sound gets there, heard before the muzzle blast.
        # Its "emission" lags the shot by the bullet's flight time, distance / v with v
        # between about 1.7 c and 4 c (supersonic rifle rounds).
        low, high = cfg.shock_lag_fraction
        shock_timing = (
            distance <= cfg.shock_max_m
            and low * distance / self.c - tolerance <= lag <= high * distance / self.c + tolerance
        )
        if not (echo_timing or shock_timing):
            return False
        by_sensor = {int(data.sensor[m]): int(m) for m in shot.members}
        common = later = 0
        for pulse in candidate.members:
            direct = by_sensor.get(int(data.sensor[pulse]))
            if direct is None:
                continue
            common += 1
            later += data.t[pulse] > data.t[direct]
        if common < 3:
            return False
        if echo_timing and later >= cfg.ghost_share * common:
            return True
        return shock_timing and common - later >= cfg.shock_share * common

    def _from_burst_place(self, candidate: _Candidate, accepted: list[_Candidate]) -> bool:
        """Was the candidate fired from where at least burst_place_rounds accepted shots were,
        none of which is explained as a reflection of an accepted shot elsewhere?"""
        cfg = self.config
        same, elsewhere = [], []
        for shot in accepted:
            far = math.hypot(candidate.fix.x - shot.fix.x, candidate.fix.y - shot.fix.y)
            (same if far <= cfg.same_place_m else elsewhere).append(shot)
        if len(same) < cfg.burst_place_rounds:
            return False
        independent = sum(
            not any(
                self._timing_ghost_of(shot, other)
                or self._recurring_reflection_of(shot, other, elsewhere)
                for other in elsewhere
            )
            for shot in same
        )
        # A reflector's ghosts are mostly explained as such; a gun's rounds only now and
        # then coincide with the timing of another gun's echo.
        return independent >= max(cfg.burst_place_rounds, 0.6 * len(same))

    def _recurring_reflection_of(
        self, candidate: _Candidate, shot: _Candidate, accepted: list[_Candidate]
    ) -> bool:
        """Is the candidate a reflection of the shot, named by its lags: its pulses follow the
        shot's on most shared sensors, and each sensor's lag recurs after the other accepted
        rounds fired from the shot's place (one reflector re-radiates every round)?"""
        cfg, data = self.config, self.data
        if cfg.reflection_recur_share <= 0:
            return False
        # Later than the shot (a mirror image "fires" with it, a compact reflector after it).
        lag_s = candidate.fix.t_emit - shot.fix.t_emit
        if not -cfg.echo_recur_tolerance_s < lag_s <= cfg.echo_window_s:
            return False
        far = math.hypot(candidate.fix.x - shot.fix.x, candidate.fix.y - shot.fix.y)
        if far <= cfg.same_place_m:
            return False  # another round from the same place
        lag: dict[int, float] = {}
        by_sensor = {int(data.sensor[m]): data.t[m] for m in shot.members}
        for pulse in candidate.members:
            direct = by_sensor.get(int(data.sensor[pulse]))
            if direct is not None:
                lag[int(data.sensor[pulse])] = data.t[pulse] - direct
        if len(lag) < 3 or sum(v > 0 for v in lag.values()) < cfg.ghost_share * len(lag):
            return False
        keys = []
        for other in accepted:
            if other is shot or other is candidate:
                continue
            if math.hypot(other.fix.x - shot.fix.x, other.fix.y - shot.fix.y) > cfg.same_place_m:
                continue
            for m in other.members:
                sensor = int(data.sensor[m])
                if sensor in lag:
                    keys.append(sensor * data.all_stride + data.t[m] + lag[sensor])
        if len(keys) < cfg.reflection_min_checks:
            return False
        keys = np.asarray(keys)
        tol = cfg.echo_recur_tolerance_s
        lo = np.searchsorted(data.all_keys, keys - tol, "left")
        hi = np.searchsorted(data.all_keys, keys + tol, "right")
        return bool(np.count_nonzero(hi > lo) >= cfg.reflection_recur_share * len(keys))

    def _is_ghost(self, candidate: _Candidate, accepted: list[_Candidate]) -> bool:
        if self._from_burst_place(candidate, accepted):
            return False
        if any(self._recurring_reflection_of(candidate, shot, accepted) for shot in accepted):
            return True
        if self._ghost_share(candidate, accepted) >= self.config.ghost_share:
            return True
        return any(self._timing_ghost_of(candidate, shot) for shot in accepted)

    def _sensors_needed(
        self, x: float, y: float, first: float, last: float, own: int, half_width: float
    ) -> int:
        """Fewest sensors that make a shot at (x, y), whose arrivals span [first, last] and
        fit within +-half_width, unlikely to be a chance coincidence of the other pulses
        around it (from sensors in range of the source)."""
        cfg, data = self.config, self.data
        start, end = first - 0.5, last + 0.5
        lo, hi = np.searchsorted(data.t, start, "left"), np.searchsorted(data.t, end, "right")
        reach = np.hypot(self.rel_x - x, self.rel_y - y) <= cfg.max_range_m
        others = int(np.count_nonzero(reach[data.sensor[lo:hi]])) - own
        # Chance pulses must land as close to the predictions as the real ones did.
        half_width = min(max(half_width, cfg.min_fit_half_width_s), cfg.tolerance_s)
        lam = max(others, 0) / (end - start) * 2.0 * half_width
        return _sensors_needed(lam, minimum=cfg.min_sensors, false_alarm_p=cfg.false_alarm_p)

    def _significant(self, candidate: _Candidate) -> bool:
        times = self.data.t[candidate.members]
        n = len(candidate.members)
        fix = candidate.fix
        half_width = float(np.abs(fix.residuals_s).max())
        if n < self._sensors_needed(fix.x, fix.y, times.min(), times.max(), n, half_width):
            return False
        return self._significant_locally(candidate)

    def _significant_locally(self, candidate: _Candidate) -> bool:
        """Chance agreement judged per sensor and at several fit widths.

        Amid a burst with echoes a sensor can report a pulse every 20 ms, so a point
        predicts a pulse within +-10 ms on most sensors by chance. Each sensor's local pulse
        rate (around its predicted arrival) gives its chance of a pulse within +-w; a real
        shot has far more sensors within a few ms than chance allows at some width w,
        while a mixture of echoes and rounds only fits loosely.
        """
        cfg = self.config
        fix = candidate.fix
        rate = self._local_rates(fix, candidate.members)
        residuals = np.abs(fix.residuals_s)
        for width in cfg.significance_widths_s:
            n = int(np.count_nonzero(residuals <= width))
            if n < cfg.min_sensors:
                continue
            lam = float(np.sum(1.0 - np.exp(-rate * 2.0 * width)))
            if n >= _sensors_needed(lam, minimum=cfg.min_sensors, false_alarm_p=cfg.false_alarm_p):
                return True
        return False

    def _coverage(self, x: float, y: float, sensors: np.ndarray) -> float:
        """Share of the n sensors nearest (x, y) that are among the given n sensors."""
        n = len(sensors)
        dist = np.hypot(self.rel_xy[:, 0] - x, self.rel_xy[:, 1] - y)
        nearest = np.argpartition(dist, n - 1)[:n] if n < len(dist) else np.arange(len(dist))
        given = np.zeros(len(dist), dtype=bool)
        given[sensors] = True
        return int(np.count_nonzero(given[nearest])) / n

    def _near_coverage(self, candidate: _Candidate) -> float:
        sensors = self.data.sensor[candidate.members]
        return self._coverage(candidate.fix.x, candidate.fix.y, sensors)

    def _rms_limit(self, accepted: list[_Candidate]) -> float:
        """Largest residual RMS a further shot may have: a few times that of the clearest
        shots already accepted (score >= 60% of the best). Propagation errors are similar
        for all shots in one input, while mixtures of echoes and rounds fit much worse."""
        cfg = self.config
        best = max(c.score for c in accepted)
        clear = [c.fix.residual_rms_s for c in accepted if c.score >= 0.6 * best]
        return max(cfg.rms_gate_factor * float(np.median(clear)), cfg.rms_gate_floor_s)

    def _repeats(self, candidate: _Candidate, accepted: list[_Candidate]) -> bool:
        """Same place as an accepted shot and too soon after it to be another round."""
        cfg = self.config
        for shot in accepted:
            near = math.hypot(candidate.fix.x - shot.fix.x, candidate.fix.y - shot.fix.y)
            soon = abs(candidate.fix.t_emit - shot.fix.t_emit) < cfg.min_shot_interval_s
            if near <= cfg.same_place_m and soon:
                return True
        return False

    def _is_seed_echo(self, seed: int, explained_by_sensor: dict) -> bool:
        for direct in explained_by_sensor.get(int(self.data.sensor[seed]), ()):
            if self._is_echo_of(seed, direct):
                return True
        return False

    # -- main loop ---------------------------------------------------------------------------
    def run(self, seed_mask: np.ndarray | None = None) -> list[_Candidate]:
        """Shots seeded from every pulse, or only from those where seed_mask is set."""
        data = self.data
        order = np.lexsort((data.t, -self.strength))
        if seed_mask is not None:
            order = order[seed_mask[order]]
        candidates, blocked_by = self._seed(order)
        accepted = self._accept(candidates, [])
        # Second chance for pulses whose seeding was skipped because a candidate that was
        # then refused (e.g. a mixture of echoes) already fitted them.
        refused = {id(c) for c in candidates} - {id(c) for c in accepted}
        retry = [i for i in order if not data.used[i] and id(blocked_by.get(i)) in refused]
        if retry:
            more, _ = self._seed(np.array(retry))
            accepted = self._accept(more, accepted)
        scanned: list[tuple[float, float]] = []
        for _ in range(self.config.burst_passes):
            more = self._burst_candidates(accepted, scanned)
            if not more:
                break
            accepted = self._accept(more, accepted)
        if self.config.peel_seeds and accepted:
            accepted = self._peel(order, accepted, scanned)
        if self.config.scan_rounds and accepted:
            more = self._scan_candidates(accepted)
            if more:
                accepted = self._accept(more, accepted)
                for _ in range(self.config.burst_passes):
                    more = self._burst_candidates(accepted, scanned)
                    if not more:
                        break
                    accepted = self._accept(more, accepted)
        return self._complete_from_templates(accepted)

    def _peel(
        self, order: np.ndarray, accepted: list[_Candidate], scanned: list[tuple[float, float]]
    ) -> list[_Candidate]:
        """Second look at what the accepted shots left: the strongest free pulses seed a grid
        search (successive cancellation: the found shots' pulses are gone, and what a grid
        candidate fits is judged against them), then bursts from any new place."""
        cfg, data = self.config, self.data
        explained = data.used.copy()
        candidates = []
        tried = 0
        for seed in order:
            if tried >= cfg.peel_seeds:
                break
            if explained[seed]:
                continue
            tried += 1
            # Only amid dense pulses (two guns, bursts with echoes), where sampled seeding
            # misses shots; elsewhere a grid finds little but echo ghosts (and costs time).
            if self._sensor_rate(int(seed)) < cfg.trim_min_rate_hz:
                continue
            candidate = self._grid_hypothesis(int(seed))
            if candidate is None:
                continue
            rate = self._local_rates(candidate.fix, candidate.members)
            if float(np.median(rate)) < cfg.trim_min_rate_hz:
                continue
            candidates.append(candidate)
            well_fit = candidate.members[
                np.abs(candidate.fix.residuals_s) <= cfg.explained_fraction * cfg.tolerance_s
            ]
            explained[well_fit] = True
        accepted = self._accept(candidates, accepted)
        for _ in range(cfg.burst_passes):
            more = self._burst_candidates(accepted, scanned)
            if not more:
                break
            accepted = self._accept(more, accepted)
        return accepted

    def _scan_candidates(self, accepted: list[_Candidate]) -> list[_Candidate]:
        """Candidates from a back-projection scan around each burst place (dense input)."""
        cfg, data = self.config, self.data
        places: list[tuple[_Candidate, list[_Candidate]]] = []
        for shot in sorted(accepted, key=lambda c: -c.score):
            if any(
                math.hypot(shot.fix.x - p.fix.x, shot.fix.y - p.fix.y) <= cfg.same_place_m
                for p, _ in places
            ):
                continue
            same = [
                o
                for o in accepted
                if math.hypot(shot.fix.x - o.fix.x, shot.fix.y - o.fix.y) <= cfg.same_place_m
            ]
            if len(same) >= cfg.scan_rounds:
                places.append((shot, same))
        found: list[_Candidate] = []
        centres = np.array([[c.fix.x, c.fix.y] for c in accepted])
        for shot, same in places:
            rate = self._local_rates(shot.fix, shot.members)
            if float(np.median(rate)) < cfg.trim_min_rate_hz:
                continue
            times = [o.fix.t_emit for o in same]
            lo = np.searchsorted(data.t, min(times) - 1.0, "left")
            hi = np.searchsorted(data.t, max(times) + 3.0, "right")
            free = lo + np.flatnonzero(~data.used[lo:hi])
            if len(free) < cfg.min_sensors:
                continue
            step, radius = cfg.scan_step_m, cfg.scan_radius_m
            axis = np.arange(-radius, radius + step / 2, step)
            gx, gy = (v.ravel() for v in np.meshgrid(axis, axis))
            keep = gx**2 + gy**2 <= radius**2
            px, py = shot.fix.x + gx[keep], shot.fix.y + gy[keep]
            near = np.min(
                np.hypot(px[:, None] - centres[None, :, 0], py[:, None] - centres[None, :, 1]),
                axis=1,
            )
            px, py = px[near > cfg.same_place_m], py[near > cfg.same_place_m]
            best_count = np.zeros(len(px), dtype=int)
            best_time = np.zeros(len(px))
            t_free, s_free = data.t[free], data.sensor[free]
            t_base = min(times) - 2.0
            width = cfg.scan_bin_s
            n_bins = int((max(times) + 4.0 - t_base) / width) + 2
            chunk = max(1, 2_000_000 // max(len(free), 1))
            for start in range(0, len(px), chunk):
                sl = slice(start, start + chunk)
                travel = self._predict(px[sl], py[sl], 0.0)
                emit = t_free[None, :] - travel[:, s_free]
                rows = np.broadcast_to(np.arange(emit.shape[0])[:, None], emit.shape)
                # Emission times outside the scanned span are dropped, not clipped into its
                # first or last bin (which would pile them up there).
                ok = np.isfinite(emit) & (emit >= t_base) & (emit < t_base + (n_bins - 1) * width)
                for offset in (0.0, width / 2):
                    b = np.floor((emit[ok] - t_base + offset) / width).astype(int)
                    counts = np.bincount(
                        rows[ok] * n_bins + b, minlength=emit.shape[0] * n_bins
                    ).reshape(emit.shape[0], n_bins)
                    top = counts.argmax(axis=1)
                    value = counts[np.arange(len(top)), top]
                    better = value > best_count[sl]
                    best_count[sl] = np.where(better, value, best_count[sl])
                    best_time[sl] = np.where(
                        better, t_base - offset + (top + 0.5) * width, best_time[sl]
                    )
            for k in np.argsort(-best_count, kind="stable")[: cfg.scan_places]:
                if best_count[k] < cfg.min_sensors:
                    break
                x, y = float(px[k]), float(py[k])
                travel = self._predict(x, y, 0.0)
                emit = t_free - travel[s_free]
                ok = np.isfinite(emit)
                emit = np.sort(emit[ok])
                ends = np.searchsorted(emit, emit + width, "right")
                counts = ends - np.arange(len(emit))
                taken: list[float] = []
                for i in np.argsort(-counts, kind="stable"):
                    if len(taken) >= cfg.scan_times or counts[i] < cfg.min_sensors:
                        break
                    centre = float(np.median(emit[i : ends[i]]))
                    if any(abs(centre - t) < cfg.min_shot_interval_s for t in taken):
                        continue
                    taken.append(centre)
                    candidate = self._polish((x, y, centre))
                    if candidate is not None:
                        found.append(candidate)
        return found

    def _sensor_rate(self, pulse: int) -> float:
        """Pulses per second on the pulse's sensor within +-peel_rate_window_s of it: over
        seconds, not just one shot's echoes and reverberation."""
        data, window = self.data, self.config.peel_rate_window_s
        key = data.sensor[pulse] * data.all_stride + data.t[pulse]
        lo = np.searchsorted(data.all_keys, key - window, "left")
        hi = np.searchsorted(data.all_keys, key + window, "right")
        return float(hi - lo - 1) / (2.0 * window)

    def _grid_scores(self, x, y, t_emit, tolerance: float) -> np.ndarray:
        """MSAC score (as for the sampled hypotheses) of each source (x, y, t_emit)."""
        predicted = self._predict(x, y, t_emit)
        sensors = np.arange(len(self.data.sensor_ids))
        _, dt = self.data.nearest(sensors[None, :], predicted)
        return np.sum(np.where(dt <= tolerance, 1.0 - (dt / tolerance) ** 2, 0.0), axis=1)

    def _grid_hypothesis(self, seed: int) -> _Candidate | None:
        """Best source within peel_radius_m of the seed's sensor, its emission time fixed by
        the seed pulse. A grid, not sampling: amid two guns' rounds and echoes a neighbour
        hears 20-50 pulses in the window and the right one is often among the weakest."""
        cfg, data = self.config, self.data
        a = data.sensor[seed]

        def best_of(dx: np.ndarray, dy: np.ndarray, tolerance: float):
            x, y = self.rel_xy[a, 0] + dx, self.rel_xy[a, 1] + dy
            t_emit = data.t[seed] - self._predict(x, y, 0.0)[:, a]
            score = self._grid_scores(x, y, t_emit, tolerance)
            return np.argsort(-score), x, y, t_emit

        # Coarse grid with a loose tolerance (a grid point is up to step/sqrt(2) off), then
        # 2 m around the three best.
        step, radius = cfg.peel_step_m, cfg.peel_radius_m
        axis = np.arange(-radius, radius + step / 2, step)
        dx, dy = (v.ravel() for v in np.meshgrid(axis, axis))
        inside = dx**2 + dy**2 <= radius**2
        dx, dy = dx[inside], dy[inside]
        order, _, _, _ = best_of(dx, dy, 0.040)
        fine = np.arange(-step, step + 0.5, 2.0)
        fx, fy = (v.ravel() for v in np.meshgrid(fine, fine))
        top = order[:3]
        dx = (dx[top][:, None] + fx[None, :]).ravel()
        dy = (dy[top][:, None] + fy[None, :]).ravel()
        order, x, y, t_emit = best_of(dx, dy, cfg.search_tolerance_s)
        best = order[0]
        if not np.isfinite(t_emit[best]):
            return None
        return self._polish((x[best], y[best], t_emit[best]))

    def _burst_candidates(
        self, accepted: list[_Candidate], scanned: list[tuple[float, float]]
    ) -> list[_Candidate]:
        """Candidates for further rounds fired from the places of accepted shots."""
        cfg, data = self.config, self.data
        found: list[_Candidate] = []
        for shot in sorted(accepted, key=lambda c: -c.score):
            x, y = shot.fix.x, shot.fix.y
            if any(math.hypot(x - a, y - b) <= cfg.same_place_m for a, b in scanned):
                continue
            scanned.append((x, y))
            t0 = shot.fix.t_emit
            lo = np.searchsorted(data.t, t0 - cfg.burst_window_s, "left")
            hi = np.searchsorted(data.t, t0 + cfg.burst_window_s + 2.0, "right")
            free = lo + np.flatnonzero(~data.used[lo:hi])
            travel = self._predict(x, y, 0.0)  # NaN beyond max_range_m
            emit = data.t[free] - travel[data.sensor[free]]
            keep = np.isfinite(emit)
            emit, sensor = emit[keep], data.sensor[free][keep]
            if len(emit) < cfg.min_sensors:
                continue
            order = np.argsort(emit)
            emit, sensor = emit[order], sensor[order]
            ends = np.searchsorted(emit, emit + cfg.burst_width_s, "right")
            starts = np.flatnonzero(ends - np.arange(len(emit)) >= cfg.min_sensors)
            counts = np.array([len(set(sensor[i : ends[i]].tolist())) for i in starts])
            if len(counts) == 0:
                continue
            taken: list[float] = []
            for k in np.argsort(-counts, kind="stable"):
                if counts[k] < cfg.min_sensors or len(taken) >= cfg.max_burst_peaks:
                    break
                i = starts[k]
                centre = float(np.median(emit[i : ends[i]]))
                if any(abs(centre - t) < cfg.min_shot_interval_s for t in taken):
                    continue
                if abs(centre - t0) < cfg.min_shot_interval_s:
                    continue
                taken.append(centre)
                members = self._match(x, y, centre, cfg.burst_width_s)
                if len(members) < cfg.min_sensors:
                    continue
                candidate = self._polish((x, y, centre), members=members)
                if candidate is not None:
                    found.append(candidate)
        return found

    def _seed(self, order: np.ndarray) -> tuple[list[_Candidate], dict[int, _Candidate]]:
        """Candidates from seeds in the given order (strongest pulses first), skipping
        pulses that a candidate already fits well or that look like a weaker echo."""
        data, cfg = self.data, self.config
        candidates: list[_Candidate] = []
        explained = data.used.copy()
        blocked_by: dict[int, _Candidate] = {}
        explained_by_sensor: dict[int, list[int]] = {}
        for seed in order:
            if explained[seed] or self._is_seed_echo(seed, explained_by_sensor):
                continue
            candidate = self._hypotheses(seed, explained)
            if candidate is None:
                continue
            candidates.append(candidate)
            # Only pulses the candidate fits well stop being seeds: a pulse at the edge of
            # the tolerance may belong to another round and deserves its own try.
            well_fit = candidate.members[
                np.abs(candidate.fix.residuals_s) <= cfg.explained_fraction * cfg.tolerance_s
            ]
            explained[well_fit] = True
            for m in well_fit:
                blocked_by.setdefault(int(m), candidate)
            for m in candidate.members:
                explained_by_sensor.setdefault(int(data.sensor[m]), []).append(int(m))
        return candidates, blocked_by

    def _accept(self, candidates: list[_Candidate], accepted: list[_Candidate]) -> list[_Candidate]:
        cfg, data = self.config, self.data
        heap = [(-c.score, k, c) for k, c in enumerate(candidates)]
        heapq.heapify(heap)
        counter = len(candidates)
        accepted = list(accepted)
        while heap:
            _, _, candidate = heapq.heappop(heap)
            if np.any(data.used[candidate.members]):
                fix = candidate.fix
                redone = self._polish((fix.x, fix.y, fix.t_emit))
                if redone is not None:
                    counter += 1
                    heapq.heappush(heap, (-redone.score, counter, redone))
                continue
            if not self._significant(candidate):
                continue
            if self._near_coverage(candidate) < cfg.min_near_coverage:
                continue
            # An echo (a reflector excited by this shot) can be accepted before the shot
            # itself when it fits as well; it then stands aside for the shot.
            echoes = [
                shot
                for shot in accepted
                if self._timing_ghost_of(shot, candidate)
                and not self._from_burst_place(shot, accepted)
            ]
            others = [shot for shot in accepted if not any(shot is e for e in echoes)]
            if self._repeats(candidate, others):
                continue
            if self._is_ghost(candidate, others):
                continue
            if others and candidate.fix.residual_rms_s > self._rms_limit(others):
                continue
            if echoes:
                accepted = others
                data.release(np.concatenate([e.members for e in echoes]))
            accepted.append(candidate)
            data.consume(candidate.members)
        # A ghost can tie with its true shot (a mirror-image source fits as well) and be
        # accepted first; echoes are always the later pulses, so judge every pair again.
        changed = True
        while changed:
            changed = False
            for candidate in sorted(accepted, key=lambda c: c.score):
                others = [o for o in accepted if o is not candidate]
                if self._is_ghost(candidate, others):
                    accepted.remove(candidate)
                    changed = True
                    break
        accepted.sort(key=lambda c: c.fix.t_emit)
        return accepted

    def _complete_from_templates(self, accepted: list[_Candidate]) -> list[_Candidate]:
        """Further rounds that repeat a located shot's arrival pattern (burst_completion).

        Only their emission time is unknown, so their significance is judged against one
        free parameter, not three; they must still be at least min_sensors, fit on their
        own within same_place_m of the template, be heard by the sensors nearest to them,
        and be no repeat, echo ghost or poor fit.
        """
        cfg, data = self.config, self.data
        if cfg.template_tolerance_s <= 0:
            return accepted
        accepted = list(accepted)
        for shot in sorted(accepted, key=lambda c: -len(c.members)):
            x, y, t0 = shot.fix.x, shot.fix.y, shot.fix.t_emit
            taken = [
                other.fix.t_emit - t0
                for other in accepted
                if other is not shot
                and math.hypot(other.fix.x - x, other.fix.y - y) <= cfg.same_place_m
            ]
            rounds = rounds_matching_template(
                template_sensors=data.sensor[shot.members],
                template_times=data.t[shot.members],
                pulse_sensors=data.sensor,
                pulse_times=data.t,
                free=~data.used,
                tolerance_s=cfg.template_tolerance_s,
                min_sensors=cfg.min_sensors,
                min_offset_s=cfg.min_shot_interval_s,
                max_offset_s=cfg.burst_window_s,
                taken_offsets_s=taken,
                rate_window_s=cfg.local_rate_window_s,
                false_alarm_p=cfg.false_alarm_p,
                max_peaks=cfg.max_burst_peaks,
            )
            for found in rounds:
                if np.any(data.used[found.members]):
                    continue
                fix = self._fit(found.members, (x, y, t0 + found.offset_s))
                if fix is None or math.hypot(fix.x - x, fix.y - y) > cfg.same_place_m:
                    continue
                # Rounds heard widely enough for the free search were its to find or
                # refuse (echo ghosts repeat a pattern too); only weakly heard ones are
                # completed here.
                times = data.t[found.members]
                half_width = float(np.abs(fix.residuals_s).max())
                n = len(found.members)
                if n >= self._sensors_needed(fix.x, fix.y, times.min(), times.max(), n, half_width):
                    continue
                score = float(np.sum(1.0 - (fix.residuals_s / cfg.tolerance_s) ** 2))
                candidate = _Candidate(fix=fix, members=found.members, score=score)
                if self._near_coverage(candidate) < cfg.min_near_coverage:
                    continue
                if self._echo_like_share(found.members) >= cfg.ghost_share:
                    continue
                if self._repeats(candidate, accepted) or self._is_ghost(candidate, accepted):
                    continue
                if fix.residual_rms_s > self._rms_limit(accepted):
                    continue
                accepted.append(candidate)
                data.consume(found.members)
        accepted.sort(key=lambda c: c.fix.t_emit)
        return accepted

    def _echo_like_share(self, members: np.ndarray) -> float:
        """Share of the pulses that could be echoes of an earlier pulse on their sensor
        (later within echo_window_s and weaker), whatever shot that pulse belongs to.

        A reflector re-radiates every round from one place, so its echoes repeat a
        pattern just as a burst's rounds do; a round found on the pattern alone must
        therefore look direct, not merely not echo an accepted shot.
        """
        data, cfg = self.data, self.config
        echo_like = 0
        for pulse in members:
            sensor = data.sensor[pulse]
            lo = np.searchsorted(data.t, data.t[pulse] - cfg.echo_window_s, "left")
            earlier = lo + np.flatnonzero(data.sensor[lo:pulse] == sensor)
            echo_like += any(self._is_echo_of(int(pulse), int(d)) for d in earlier)
        return echo_like / len(members)

    def to_shot(self, candidate: _Candidate) -> LocatedShot:
        data = self.data
        members = candidate.members[np.argsort(data.t[candidate.members])]
        fix = self._fit(
            members, (candidate.fix.x, candidate.fix.y, candidate.fix.t_emit), final=True
        )
        fix = fix or candidate.fix
        # Back to the input's frame and absolute time.
        absolute = Fix(
            x=fix.x + self.centre[0],
            y=fix.y + self.centre[1],
            z=fix.z,
            t_emit=fix.t_emit + data.t0,
            residuals_s=fix.residuals_s,
            weights=fix.weights,
            cov_xy=fix.cov_xy,
            sigma_s=fix.sigma_s,
            ellipse_scale=fix.ellipse_scale,
            converged=fix.converged,
        )
        return shot_from_fix(
            absolute,
            [data.items[m] for m in members],
            hull_sensors_xy=data.positions[:, :2],
        )


def _three_sensor_candidates(
    pulses: list[Pulse],
    *,
    c: float,
    wind_xy,
    source_z,
    config: AssociationConfig,
    seed_pulse_uuids: Collection[str] | None = None,
) -> list[LocatedShot]:
    """With only three sensors nothing can be checked: offer low-confidence candidates.

    Strongest pulses first; each takes the strongest pair of pulses on the other two
    sensors that could be the same wavefront and has exactly one solution (no mirror
    ambiguity). Every pulse is used at most once.
    """
    data = _Pulses(pulses)
    gap = np.hypot(*(data.positions[:, None, :2] - data.positions[None, :, :2]).transpose(2, 0, 1))
    gap_s = gap / c + config.tolerance_s
    strength = np.where(np.isnan(data.power), data.snr, data.power)
    strength = np.where(np.isnan(strength), 0.0, strength)
    used = np.zeros(len(data.t), dtype=bool)
    shots = []
    order = np.lexsort((data.t, -strength))
    if seed_pulse_uuids is not None:
        wanted = set(seed_pulse_uuids)
        order = np.array([i for i in order if data.items[i].pulse_uuid in wanted], dtype=int)
    for seed in order[: config.max_three_sensor_seeds]:
        if used[seed]:
            continue
        a = data.sensor[seed]
        b, d = [k for k in range(3) if k != a]
        near_b = [
            i
            for i in data.on_sensor_between(
                b, data.t[seed] - gap_s[a, b], data.t[seed] + gap_s[a, b]
            )
            if not used[i]
        ]
        near_d = [
            i
            for i in data.on_sensor_between(
                d, data.t[seed] - gap_s[a, d], data.t[seed] + gap_s[a, d]
            )
            if not used[i]
        ]
        pairs = [
            (i, j) for i in near_b for j in near_d if abs(data.t[i] - data.t[j]) <= gap_s[b, d]
        ]
        pairs.sort(key=lambda ij: -(strength[ij[0]] + strength[ij[1]]))
        for i, j in pairs[:10]:
            members = np.array([seed, i, j])
            sensors = data.positions[data.sensor[members]]
            solutions = three_sensor_solutions(
                sensors=sensors, times=data.t[members], c=c, source_z=source_z
            )
            if len(solutions) != 1:
                continue
            try:
                fix = refine(
                    sensors=sensors,
                    times=data.t[members],
                    c=c,
                    start=solutions[0],
                    source_z=source_z,
                    wind_xy=wind_xy,
                    huber_s=None,
                )
            except LocationError:
                continue
            fix = dataclasses.replace(fix, t_emit=fix.t_emit + data.t0)
            shots.append(
                shot_from_fix(fix, [data.items[m] for m in members], hull_sensors_xy=data.positions)
            )
            used[members] = True
            break
    return sorted(shots, key=lambda shot: shot.t_emit)


def associate(
    pulses: list[Pulse],
    *,
    c: float,
    wind_xy=(0.0, 0.0),
    source_z: float | None = None,
    config: AssociationConfig = DEFAULT_CONFIG,
    seed_pulse_uuids: Collection[str] | None = None,
) -> list[LocatedShot]:
    """Group pulses into located shots (time order). Empty when nothing can be located.

    With `seed_pulse_uuids` (incremental association: the pulses that just arrived), only
    those pulses are tried as seeds, plus burst completion from the shots they create;
    every pulse can still be matched into a shot. Unknown uuids are ignored; none of the
    input's pulses among them gives an empty result. Other shots in the input are not
    searched for, so a shot that would have claimed some pulses first, or whose echo
    ghost a candidate is, is not there to do so.

    Raises AssociationError for non-finite values (pulses, c, source_z), duplicate pulse
    ids, or input so dense that chance coincidences would pass as shots.
    """
    if not math.isfinite(c) or c <= 0:
        raise AssociationError(f"speed of sound must be a positive number, got {c!r}")
    if source_z is not None and finite_float(source_z) is None:
        raise AssociationError(f"source height must be a finite number, got {source_z!r}")
    _validate(pulses)
    n_sensors = len({p.sensor_id for p in pulses})
    if n_sensors == 3 and config.three_sensor_candidates:
        return _three_sensor_candidates(
            pulses,
            c=c,
            wind_xy=wind_xy,
            source_z=source_z,
            config=config,
            seed_pulse_uuids=seed_pulse_uuids,
        )
    if n_sensors < config.min_sensors:
        return []
    associator = _Associator(pulses, c=c, wind_xy=wind_xy, source_z=source_z, config=config)
    positions = associator.data.positions[:, :2]
    if np.linalg.matrix_rank(positions - positions.mean(axis=0), tol=1.0) < 2:
        return []  # collinear (or co-located) sensors cannot fix a point in the plane
    if not _searchable(associator.data, config):
        return []
    seed_mask = None
    if seed_pulse_uuids is not None:
        wanted = set(seed_pulse_uuids)
        seed_mask = np.array([p.pulse_uuid in wanted for p in associator.data.items], dtype=bool)
        if not seed_mask.any():
            return []
    return [associator.to_shot(c) for c in associator.run(seed_mask)]
