"""Labelled incidents from generated scenarios, for training and testing the classifier.

Association and location are taken from the truth (each shot's direct pulses, its true
position blurred by a typical location error), so that classifier figures measure the
classifier; the end-to-end benchmark runs the real association instead.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from apps.acoustics.classifier import incident_features
from apps.acoustics.generator.scenarios import KIND_LABEL, Scenario, generate_scenario
from apps.acoustics.incidents import Incident, bundle
from apps.acoustics.types import LocatedShot, Pulse, Weather

MIN_SENSORS = 4  # a shot needs 4 consistent sensors to be located (2D, d + 2)
LOCATION_SIGMA_M = 4.0


@dataclass
class LabelledIncident:
    incident: Incident
    pulses: dict[str, Pulse]
    weather: Weather
    label: str
    scenario: str

    def features(self) -> dict[str, float]:
        return incident_features(incident=self.incident, pulses=self.pulses, weather=self.weather)


def oracle_shots(scenario: Scenario, *, rng: np.random.Generator) -> list[tuple[LocatedShot, str]]:
    """(LocatedShot, label) for every emission heard directly by at least MIN_SENSORS."""
    by_uuid = {p.pulse_uuid: p for p in scenario.pulses}
    shots = []
    for record in scenario.truth["shots"]:
        first_arrivals: dict[str, str] = {}
        for uuid in record["shock_pulse_uuids"] + record["direct_pulse_uuids"]:
            first_arrivals[by_uuid[uuid].sensor_id] = uuid  # direct wins over shock
        if len(first_arrivals) < MIN_SENSORS:
            continue
        error = rng.normal(0.0, LOCATION_SIGMA_M, 2)
        variance = LOCATION_SIGMA_M**2
        axis = math.sqrt(5.991 * variance)
        uuids = tuple(first_arrivals.values())
        shot = LocatedShot(
            t_emit=record["t_emit"],
            x=record["x"] + float(error[0]),
            y=record["y"] + float(error[1]),
            z=None,
            pulse_uuids=uuids,
            sensor_ids=tuple(by_uuid[u].sensor_id for u in uuids),
            residual_rms_s=0.0,
            cov_xy=((variance, 0.0), (0.0, variance)),
            ellipse95_major_m=axis,
            ellipse95_minor_m=axis,
            ellipse95_azimuth_deg=0.0,
        )
        shots.append((shot, record["label"]))
    return shots


def labelled_incidents(scenario: Scenario, *, seed: int) -> list[LabelledIncident]:
    rng = np.random.default_rng([seed, 7])
    pairs = oracle_shots(scenario, rng=rng)
    label_of = {id(shot): label for shot, label in pairs}
    by_uuid = {p.pulse_uuid: p for p in scenario.pulses}
    result = []
    for incident in bundle([shot for shot, _ in pairs]):
        votes = Counter(label_of[id(shot)] for shot in incident.shots)
        label = votes.most_common(1)[0][0]
        needed = {u for shot in incident.shots for u in shot.pulse_uuids}
        result.append(
            LabelledIncident(
                incident, {u: by_uuid[u] for u in needed}, scenario.weather, label, scenario.name
            )
        )
    return result


def _one(job: tuple[str, int]) -> list[tuple[dict[str, float], str, str]]:
    kind, seed = job
    scenario = generate_scenario(kind=kind, seed=seed)
    return [
        (li.features(), li.label, scenario.name) for li in labelled_incidents(scenario, seed=seed)
    ]


# How often each scenario kind appears in a training or test set: the classes end up
# roughly balanced (a fireworks night holds several firework incidents).
KIND_WEIGHTS = {
    "single_shot": 3,
    "semi_auto": 3,
    "automatic": 2,
    "two_shooters": 1,
    "fireworks": 1,
    "firecracker": 4,
    "mortar": 2,
    "backfire": 6,
    "construction": 6,
    "other": 5,
}


def feature_set(
    *, seeds: range, kinds: dict[str, int] | None = None, workers: int = 1
) -> list[tuple[dict[str, float], str, str]]:
    """(features, label, scenario name) for incidents of scenarios with the given seeds.

    Each seed yields, for every kind, `weight` scenarios (seeds seed*16 + i).
    """
    kinds = kinds or KIND_WEIGHTS
    for kind in kinds:
        if kind not in KIND_LABEL:
            raise ValueError(f"unknown scenario kind {kind!r}")
    jobs = [
        (kind, seed * 16 + i)
        for seed in seeds
        for kind, weight in kinds.items()
        for i in range(weight)
    ]
    if workers > 1:
        # Not "fork": forking a process that runs threads (a test server, a DB pool) can
        # copy a held lock into the child, which then waits forever.
        with get_context("spawn").Pool(workers) as pool:
            chunks = pool.map(_one, jobs, chunksize=2)
    else:
        chunks = [_one(job) for job in jobs]
    return [row for chunk in chunks for row in chunk]


def incident_record(item: LabelledIncident) -> dict:
    """A labelled incident as JSON, in the form a reviewer's decision is stored."""
    from apps.acoustics.io import pulse_to_record

    return {
        "label": item.label,
        "scenario": item.scenario,
        "shots": [
            {
                "t_emit": s.t_emit,
                "x": s.x,
                "y": s.y,
                "z": s.z,
                "pulse_uuids": list(s.pulse_uuids),
                "sigma_m": LOCATION_SIGMA_M,
            }
            for s in item.incident.shots
        ],
        "pulses": [pulse_to_record(p) for p in item.pulses.values()],
        "weather": {
            "temperature": item.weather.temperature_c,
            "speed": item.weather.wind_speed_ms,
            "direction": item.weather.wind_from_deg,
        },
    }
