"""Labelled incidents as the live system sees them: real association, real bundling.

`labelled.py` takes shots from the truth so that training measures the classifier alone.
Here the pulses of a generated scenario go through `association.associate` (as the
pipeline calls it: 2D fixes, the scenario's speed of sound and wind) and the located shots
through `incidents.bundle` with the pipeline's defaults. Each incident is labelled from the
truth by the sources its pulses came from (direct, shock or echo arrivals): the label of
the majority of its pulses. Echo ghosts and mixtures are thus scored as what they mostly
are, and incidents the association splits or merges count as they come out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from multiprocessing import get_context

from apps.acoustics.association import AssociationError, associate
from apps.acoustics.classifier import incident_features
from apps.acoustics.generator.scenarios import KIND_LABEL, Scenario, generate_scenario
from apps.acoustics.incidents import Incident, bundle
from apps.acoustics.sound import speed_of_sound, weather_wind
from apps.acoustics.types import Pulse

# The pipeline's bundling defaults (apps.incidents.conf: INCIDENT_MAX_GAP_S, _RADIUS_M,
# _SAME_PLACE_M); numerical code here cannot read Django settings.
MAX_GAP_S = 10.0
RADIUS_M = 200.0
SAME_PLACE_M = 10.0


@dataclass(frozen=True)
class AssociatedIncident:
    features: dict[str, float]
    label: str
    scenario: str
    kind: str  # the scenario kind (e.g. "automatic"), for per-kind figures


def associated_incidents(scenario: Scenario) -> list[tuple[Incident, dict[str, Pulse], str]]:
    """(incident, its pulses by uuid, truth label) for what the live chain makes of it."""
    weather = scenario.weather
    try:
        located = associate(
            scenario.pulses,
            c=speed_of_sound(weather.temperature_c),
            wind_xy=weather_wind(weather),
            source_z=None,
        )
    except AssociationError:
        return []  # the pipeline logs and skips such a span: no incident
    if not located:
        return []
    label_of_shot = {shot["shot_id"]: shot["label"] for shot in scenario.truth["shots"]}
    label_of_pulse = {
        uuid: label_of_shot[record["shot_id"]] for uuid, record in scenario.truth["pulses"].items()
    }
    by_uuid = {p.pulse_uuid: p for p in scenario.pulses}
    result = []
    for incident in bundle(
        located, max_gap_s=MAX_GAP_S, radius_m=RADIUS_M, same_place_m=SAME_PLACE_M
    ):
        uuids = [u for shot in incident.shots for u in shot.pulse_uuids]
        votes = Counter(label_of_pulse.get(u, "other") for u in uuids)
        label = votes.most_common(1)[0][0]
        result.append((incident, {u: by_uuid[u] for u in uuids}, label))
    return result


def _live_incidents(scenario, kind: str) -> list[AssociatedIncident]:
    return [
        AssociatedIncident(
            incident_features(incident=incident, pulses=pulses, weather=scenario.weather),
            label,
            scenario.name,
            kind,
        )
        for incident, pulses, label in associated_incidents(scenario)
    ]


def _one(job: tuple[str, int]) -> list[AssociatedIncident]:
    kind, seed = job
    return _live_incidents(generate_scenario(kind=kind, seed=seed), kind)


def _map_scenarios(function, scenarios: dict[str, range], *, workers: int, chunksize: int):
    """``function((kind, seed))`` for every scenario, in a deterministic order."""
    for kind in scenarios:
        if kind not in KIND_LABEL:
            raise ValueError(f"unknown scenario kind {kind!r}")
    jobs = [(kind, seed) for kind, seeds in scenarios.items() for seed in seeds]
    if workers > 1:
        # "spawn", not "fork": see labelled.feature_set.
        with get_context("spawn").Pool(workers) as pool:
            return pool.map(function, jobs, chunksize=chunksize)
    return [function(job) for job in jobs]


def associated_feature_set(
    *, scenarios: dict[str, range], workers: int = 1
) -> list[AssociatedIncident]:
    """Incidents of the scenarios {kind: scenario seeds}, in a deterministic order."""
    chunks = _map_scenarios(_one, scenarios, workers=workers, chunksize=4)
    return [item for chunk in chunks for item in chunk]


def _both(job: tuple[str, int]) -> tuple[list, list[AssociatedIncident]]:
    from apps.acoustics.generator.labelled import labelled_incidents

    kind, seed = job
    scenario = generate_scenario(kind=kind, seed=seed)
    truth_grouped = [
        (li.features(), li.label, scenario.name) for li in labelled_incidents(scenario, seed=seed)
    ]
    return truth_grouped, _live_incidents(scenario, kind)


def scenario_feature_sets(
    *, scenarios: dict[str, range], workers: int = 1
) -> tuple[list[tuple[dict[str, float], str, str]], list[AssociatedIncident]]:
    """Both views (truth-grouped rows, live-chain incidents) of the scenarios
    {kind: scenario seeds}, each generated once, in a deterministic order."""
    chunks = _map_scenarios(_both, scenarios, workers=workers, chunksize=2)
    truth_grouped = [row for rows, _ in chunks for row in rows]
    live = [item for _, items in chunks for item in items]
    return truth_grouped, live


def parse_scenarios(
    text: str, *, kinds=KIND_LABEL, base: int = 0, allow_count: bool = False
) -> dict[str, range]:
    """{kind: seeds} from "kind=START:STOP,..." (seeds base + START to base + STOP - 1);
    with ``allow_count`` also "kind=COUNT" (the first COUNT seeds from ``base``)."""
    form = "kind=COUNT or kind=START:STOP" if allow_count else "kind=START:STOP"
    scenarios = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            kind, seeds = part.split("=")
            if allow_count and ":" not in seeds:
                low, high = 0, int(seeds)
            else:
                low, high = (int(x) for x in seeds.split(":"))
        except ValueError:
            raise ValueError(f"{part!r} must look like {form}") from None
        if kind not in kinds:
            raise ValueError(f"unknown scenario kind {kind!r}")
        if not 0 <= low < high:
            raise ValueError(
                f"{part!r}: need 0 <= START < STOP" + (" (or COUNT > 0)" if allow_count else "")
            )
        scenarios[kind] = range(base + low, base + high)
    if not scenarios:
        raise ValueError("no scenarios given")
    return scenarios


def format_scenarios(scenarios: dict[str, range]) -> str:
    return ",".join(f"{kind}={seeds.start}:{seeds.stop}" for kind, seeds in scenarios.items())


def training_feature_sets(
    *, seeds: range, workers: int = 1
) -> tuple[list[tuple[dict[str, float], str, str]], list[AssociatedIncident]]:
    """Both views of the scenarios `labelled.feature_set(seeds=...)` draws, generated once:
    (truth-grouped rows as feature_set returns them, incidents of the live chain)."""
    from apps.acoustics.generator.labelled import KIND_WEIGHTS

    jobs = [
        (kind, seed * 16 + i)
        for seed in seeds
        for kind, weight in KIND_WEIGHTS.items()
        for i in range(weight)
    ]
    if workers > 1:
        with get_context("spawn").Pool(workers) as pool:
            chunks = pool.map(_both, jobs, chunksize=2)
    else:
        chunks = [_both(job) for job in jobs]
    truth_grouped = [row for rows, _ in chunks for row in rows]
    live = [item for _, items in chunks for item in items]
    return truth_grouped, live
