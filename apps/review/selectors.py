"""Reads of the review center: the queue, claims, history, filtered incidents, surge, metrics.

Queue order (``queue_sort_key``), issue 5's "multiple gunshots first, then age" read as the
machine's call, not the bare round count: first incidents the classifier calls gunfire with
more than one round, then those it calls gunfire with one round, then everything else
(fireworks, backfires, ...); the oldest detection first within each tier. In a coverage area
in surge mode, incidents are ranked within their tier by the machine's gunfire probability
instead (highest first), after the incidents of areas not in surge, so a fireworks night in
one area cannot starve the others.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone

from apps.incidents.models import Incident, IncidentStatus
from apps.review.conf import review_setting
from apps.review.models import (
    GUNFIRE_DECISIONS,
    Decision,
    HistoryKind,
    IncidentHistory,
    NotGunfireReason,
    ReviewClaim,
    ReviewDecision,
    SurgeMode,
)


def promoted_to_review(*, incident_id: int) -> bool:
    """Did a reviewer send this machine-filtered incident to review?"""
    return IncidentHistory.objects.filter(
        incident_id=incident_id, kind=HistoryKind.PROMOTED
    ).exists()


def gunfire_probability(incident: Incident) -> float:
    try:
        return float((incident.class_probabilities or {}).get("gunfire", 0.0))
    except (TypeError, ValueError):
        return 0.0


def is_multiple(incident: Incident) -> bool:
    return (incident.rounds or 0) > 1


def is_likely_gunfire(incident: Incident) -> bool:
    """The classifier calls it gunfire: P(gunfire) at or above the model's decision threshold
    (``classifier.decide``), the same call the queue's Machine column shows."""
    return incident.machine_class == "gunfire"


# Queue tiers, most urgent first. Why this order: a reviewer's first duty is to get likely
# gunfire to the police within the 60 s target, and several likely gunshots (an exchange of
# fire, an automatic weapon) are the most urgent of those. A long fireworks burst has many
# "rounds" too, so the round count alone would put it ahead of a real shooting; the rest
# still follows, oldest first, since a reviewer may overrule the machine on any of them.
TIER_MULTIPLE_GUNFIRE = 0
TIER_SINGLE_GUNFIRE = 1
TIER_OTHER = 2
TIER_LABELS = {
    TIER_MULTIPLE_GUNFIRE: "multiple likely gunshots",
    TIER_SINGLE_GUNFIRE: "likely gunshot",
    TIER_OTHER: "other",
}


def queue_tier(incident: Incident) -> int:
    if not is_likely_gunfire(incident):
        return TIER_OTHER
    return TIER_MULTIPLE_GUNFIRE if is_multiple(incident) else TIER_SINGLE_GUNFIRE


def multiple_gunshot_probability(incident: Incident) -> float:
    """Machine probability that this is multiple gunshots: P(gunfire) when rounds > 1."""
    return gunfire_probability(incident) if is_multiple(incident) else 0.0


def surge_areas() -> dict[int, SurgeMode]:
    """Coverage areas in surge mode now: {area id: SurgeMode}."""
    return {s.coverage_area_id: s for s in SurgeMode.objects.filter(on=True)}


def queue_sort_key(incident: Incident, *, surging: set[int]) -> tuple:
    in_surge = incident.coverage_area_id in surging
    return (
        queue_tier(incident),
        1 if in_surge else 0,
        -gunfire_probability(incident) if in_surge else 0.0,
        incident.detected_at,
        incident.pk,
    )


def pending_incidents() -> QuerySet[Incident]:
    return Incident.objects.filter(status=IncidentStatus.PENDING_REVIEW).select_related(
        "agency", "coverage_area", "beat", "district", "review_claim__reviewer"
    )


def queue_ordered(*, unclaimed_only: bool = False) -> list[Incident]:
    """Incidents waiting for review in queue order (see the module docstring)."""
    incidents = pending_incidents()
    if unclaimed_only:
        incidents = incidents.filter(review_claim__isnull=True)
    surging = set(surge_areas())
    return sorted(incidents, key=lambda i: queue_sort_key(i, surging=surging))


@dataclass
class QueueItem:
    incident: Incident
    position: int
    seconds_since_detection: float
    overdue: bool
    in_surge: bool
    tier: int = TIER_OTHER  # ``queue_tier``: 0 multiple likely gunshots, 1 likely gunshot
    claimed_by: object | None = None  # the reviewer (User) or None
    claimed_at: dt.datetime | None = None
    extra: dict = field(default_factory=dict)

    @property
    def claimed(self) -> bool:
        return self.claimed_by is not None

    @property
    def likely_gunfire(self) -> bool:
        return self.tier in (TIER_MULTIPLE_GUNFIRE, TIER_SINGLE_GUNFIRE)

    @property
    def tier_label(self) -> str:
        return TIER_LABELS[self.tier]

    def as_dict(self) -> dict:
        return {
            **queue_payload(self.incident),
            "position": self.position,
            "seconds_since_detection": round(self.seconds_since_detection, 1),
            "overdue": self.overdue,
            "in_surge": self.in_surge,
            "tier": self.tier,
        }


def review_queue(*, now: dt.datetime | None = None) -> list[QueueItem]:
    """The live queue: every incident in review, claimed or not, in queue order.

    Each item says how long ago it was detected and whether the target (decided within
    ``REVIEW_TARGET_SECONDS`` of detection) has already passed.
    """
    now = now or timezone.now()
    target = float(review_setting("REVIEW_TARGET_SECONDS"))
    surging = set(surge_areas())
    items = []
    for position, incident in enumerate(queue_ordered(), start=1):
        seconds = (now - incident.detected_at).total_seconds()
        claim = getattr(incident, "review_claim", None)
        items.append(
            QueueItem(
                incident=incident,
                position=position,
                seconds_since_detection=seconds,
                overdue=seconds > target,
                in_surge=incident.coverage_area_id in surging,
                tier=queue_tier(incident),
                claimed_by=claim.reviewer if claim else None,
                claimed_at=claim.claimed_at if claim else None,
            )
        )
    return items


def queue_length() -> int:
    return Incident.objects.filter(status=IncidentStatus.PENDING_REVIEW).count()


def claim_of(*, reviewer) -> ReviewClaim | None:
    """The claim the reviewer holds now (a reviewer holds at most one)."""
    return (
        ReviewClaim.objects.select_related("incident", "reviewer").filter(reviewer=reviewer).first()
    )


def claim_for_incident(*, incident_id: int) -> ReviewClaim | None:
    return ReviewClaim.objects.select_related("reviewer").filter(incident_id=incident_id).first()


def reviewer_label(user) -> str:
    if user is None:
        return ""
    return getattr(user, "full_name", "") or getattr(user, "email", "")


def queue_payload(incident: Incident) -> dict:
    """Summary of a queued incident for the review stream and the queue page."""
    claim = ReviewClaim.objects.filter(incident_id=incident.pk).select_related("reviewer").first()
    return {
        "incident_id": incident.pk,
        "reference": f"{incident.agency.system_id}-{incident.number}",
        "agency": incident.agency.name,
        "coverage_area": incident.coverage_area.name,
        "status": incident.status,
        "detected_at": incident.detected_at.isoformat(),
        "first_shot_at": incident.first_shot_at.isoformat(),
        "rounds": incident.rounds,
        "machine_class": incident.machine_class,
        "class_probabilities": incident.class_probabilities,
        "multiple_gunshot_probability": round(multiple_gunshot_probability(incident), 6),
        "likely_gunfire": is_likely_gunfire(incident),
        "nearest_address": incident.nearest_address,
        "latitude": incident.latitude,
        "longitude": incident.longitude,
        "claimed_by": reviewer_label(claim.reviewer) if claim else None,
        "claimed_by_id": claim.reviewer_id if claim else None,
    }


# --- Decisions and history ------------------------------------------------------------------


def decision_for(*, incident: Incident) -> ReviewDecision | None:
    return ReviewDecision.objects.filter(incident=incident).first()


def incident_type_label(*, incident: Incident) -> str:
    """'Single gunshot', 'Multiple gunshots', 'Possible gunfire', 'Not gunfire' or ''."""
    decision = decision_for(incident=incident)
    return decision.type_label if decision else ""


def may_read_history(*, incident: Incident, user) -> bool:
    """Review staff read every history; agency users read their agency's published ones."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_irc_reviewer:
        return True
    if user.agency_id != incident.agency_id:
        return False
    # Read afresh: the caller's instance may predate the publication.
    return Incident.objects.filter(pk=incident.pk, published_at__isnull=False).exists()


def history_for(*, incident: Incident, user) -> QuerySet[IncidentHistory]:
    """The incident's history entries, oldest first; PermissionDenied for anyone else."""
    if not may_read_history(incident=incident, user=user):
        raise PermissionDenied("You may not read this incident's history.")
    return IncidentHistory.objects.filter(incident=incident).select_related("actor")


# --- Filtered incidents ---------------------------------------------------------------------

FILTERED_SUMMARY_FIELDS = (
    "id",
    "agency__system_id",
    "number",
    "coverage_area__name",
    "first_shot_at",
    "detected_at",
    "rounds",
    "machine_class",
    "class_probabilities",
    "nearest_address",
    "latitude",
    "longitude",
    "n_sensors",
)


def filtered_incidents(
    *, since: dt.datetime | None = None, coverage_area_id: int | None = None, limit: int = 200
) -> list[dict]:
    """Machine-filtered incidents, newest first, as summary data only (no audio exists)."""
    rows = Incident.objects.filter(status=IncidentStatus.FILTERED)
    if since is not None:
        rows = rows.filter(detected_at__gte=since)
    if coverage_area_id is not None:
        rows = rows.filter(coverage_area_id=coverage_area_id)
    result = []
    for row in rows.order_by("-detected_at", "-id").values(*FILTERED_SUMMARY_FIELDS)[:limit]:
        row["reference"] = f"{row.pop('agency__system_id')}-{row['number']}"
        row["coverage_area"] = row.pop("coverage_area__name")
        result.append(row)
    return result


# --- Surge mode ---------------------------------------------------------------------------


def surge_for(*, coverage_area_id: int) -> SurgeMode | None:
    return SurgeMode.objects.filter(coverage_area_id=coverage_area_id).first()


def surge_routing_threshold(*, coverage_area_id: int) -> float | None:
    """The raised routing threshold of the area while in surge, else None (normal rule)."""
    surge = SurgeMode.objects.filter(coverage_area_id=coverage_area_id, on=True).first()
    return surge.threshold if surge else None


def routes_to_review(*, coverage_area_id: int, probabilities: dict, explosive_like: bool) -> bool:
    """What the pipeline should do with a classified incident of this area.

    Normally an explosive-like incident goes to review. In surge mode it must also have a
    machine gunfire probability of at least the area's threshold; otherwise it is filtered.
    """
    if not explosive_like:
        return False
    threshold = surge_routing_threshold(coverage_area_id=coverage_area_id)
    if threshold is None:
        return True
    return float((probabilities or {}).get("gunfire", 0.0)) >= threshold


# --- Metrics -------------------------------------------------------------------------------

# The classifier's class a human decision corresponds to (for overrides and training).
REASON_CLASS = {
    NotGunfireReason.FIREWORK: "firework",
    NotGunfireReason.FIRECRACKER: "firework",
    NotGunfireReason.BACKFIRE: "backfire",
    NotGunfireReason.CONSTRUCTION: "construction",
    NotGunfireReason.OTHER: "other",
}


def human_class(*, decision: str, not_gunfire_reason: str = "") -> str:
    """The classifier class of a decision; possible gunfire counts as gunfire here."""
    if decision in GUNFIRE_DECISIONS:
        return "gunfire"
    return REASON_CLASS.get(not_gunfire_reason, "other")


def training_label(*, decision: str, not_gunfire_reason: str = "") -> str | None:
    """Label for retraining: gunfire for single/multiple, the reason's class for not
    gunfire, None (not used) for possible gunfire (the reviewer was not sure)."""
    if decision in (Decision.SINGLE_GUNSHOT, Decision.MULTIPLE_GUNSHOTS):
        return "gunfire"
    if decision == Decision.NOT_GUNFIRE:
        return REASON_CLASS.get(not_gunfire_reason)
    return None


def nearest_rank(values: list[float], q: float) -> float | None:
    """The q-quantile by the nearest-rank method (the smallest value with >= q of the data
    at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class ReviewMetrics:
    since: dt.datetime
    until: dt.datetime
    decisions: int
    decisions_per_hour: float
    hourly: list[tuple[dt.datetime, int]]
    median_seconds: float | None
    p90_seconds: float | None
    share_within_target: float | None
    target_seconds: float
    override_by_class: dict[str, dict]
    queue_length: int


def review_metrics(*, hours: int = 24, now: dt.datetime | None = None) -> ReviewMetrics:
    """Figures of the first decisions made in the last ``hours`` hours.

    - decisions per hour: decisions / hours, and counts per clock hour (UTC);
    - time from detection to decision: median and p90 (nearest rank), and the share
      decided within ``REVIEW_TARGET_SECONDS``;
    - override rate by machine class: the share of decided incidents of that machine
      class whose first human decision maps to another class (``human_class``);
    - the queue length now.
    """
    now = now or timezone.now()
    since = now - dt.timedelta(hours=hours)
    rows = list(
        ReviewDecision.objects.filter(decided_at__gt=since, decided_at__lte=now).values(
            "decided_at",
            "seconds_to_decision",
            "machine_class",
            "initial_decision",
            "initial_not_gunfire_reason",
        )
    )
    target = float(review_setting("REVIEW_TARGET_SECONDS"))
    seconds = [r["seconds_to_decision"] for r in rows]
    start_hour = since.replace(minute=0, second=0, microsecond=0)
    buckets: dict[dt.datetime, int] = {}
    hour = start_hour
    while hour <= now:
        buckets[hour] = 0
        hour += dt.timedelta(hours=1)
    for r in rows:
        key = r["decided_at"].astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        buckets[key] = buckets.get(key, 0) + 1
    overrides: dict[str, dict] = {}
    for r in rows:
        machine = r["machine_class"] or "unclassified"
        entry = overrides.setdefault(machine, {"decided": 0, "overridden": 0, "rate": 0.0})
        entry["decided"] += 1
        human = human_class(
            decision=r["initial_decision"], not_gunfire_reason=r["initial_not_gunfire_reason"]
        )
        if human != machine:
            entry["overridden"] += 1
    for entry in overrides.values():
        entry["rate"] = entry["overridden"] / entry["decided"]
    return ReviewMetrics(
        since=since,
        until=now,
        decisions=len(rows),
        decisions_per_hour=len(rows) / hours if hours else 0.0,
        hourly=sorted(buckets.items()),
        median_seconds=statistics.median(seconds) if seconds else None,
        p90_seconds=nearest_rank(seconds, 0.9),
        share_within_target=(
            sum(1 for s in seconds if s <= target) / len(seconds) if seconds else None
        ),
        target_seconds=target,
        override_by_class=dict(sorted(overrides.items())),
        queue_length=queue_length(),
    )


# --- Reviewed incidents as training data ------------------------------------------------------


@dataclass
class TrainingExample:
    incident_id: int
    features: dict
    label: str


def incident_acoustic_features(*, incident: Incident) -> dict[str, float]:
    """The classifier's features of a stored incident, from its shots' per-pulse features.

    Rebuilt the way the pipeline classifies (``apps.incidents.pipeline._refresh_incident``):
    the stored shots in the incident's own local frame, bundled into one acoustic incident,
    with each shot pulse's sensor position and features. Raises ``ClassifierError`` when the
    incident has no shots or its pulses carry no usable features.
    """
    from apps.acoustics import classifier
    from apps.acoustics.geometry import LocalFrame
    from apps.acoustics.incidents import bundle
    from apps.acoustics.types import LocatedShot, Pulse
    from apps.incidents.conf import incident_setting
    from apps.incidents.models import ShotPulse
    from apps.incidents.pipeline import pipeline_weather

    frame = LocalFrame(
        origin_lat_deg=incident.origin_latitude, origin_lon_deg=incident.origin_longitude
    )
    shots = list(incident.shots.order_by("emitted_epoch_s", "id"))
    if not shots:
        raise classifier.ClassifierError(f"incident {incident.pk} has no located shots")
    members: dict[int, list] = {s.pk: [] for s in shots}
    rows = list(
        ShotPulse.objects.filter(shot__incident=incident).select_related("pulse").order_by("id")
    )
    for sp in rows:
        members[sp.shot_id].append(sp)
    located = []
    for shot in shots:
        if not members[shot.pk]:
            continue
        xyz = frame.to_local(lat_deg=shot.latitude, lon_deg=shot.longitude, height_m=0.0)
        located.append(
            LocatedShot(
                t_emit=shot.emitted_epoch_s,
                x=float(xyz[0]),
                y=float(xyz[1]),
                z=shot.z_m,
                pulse_uuids=tuple(str(m.pulse_id) for m in members[shot.pk]),
                sensor_ids=tuple(str(m.sensor_id) for m in members[shot.pk]),
                residual_rms_s=shot.residual_rms_ms / 1000.0,
                cov_xy=((shot.cov_xx, shot.cov_xy), (shot.cov_xy, shot.cov_yy)),
                ellipse95_major_m=shot.ellipse_major_m,
                ellipse95_minor_m=shot.ellipse_minor_m,
                ellipse95_azimuth_deg=shot.ellipse_azimuth_deg,
                outside_hull=shot.outside_hull,
                confident=shot.confident,
            )
        )
    if not located:
        raise classifier.ClassifierError(f"incident {incident.pk} has no shot pulses")
    summary = bundle(
        located,
        max_gap_s=1e12,
        radius_m=1e12,
        same_place_m=float(incident_setting("INCIDENT_SAME_PLACE_M")),
    )[0]
    pulses = {}
    for sp in rows:
        p = sp.pulse
        xyz = frame.to_local(lat_deg=p.latitude, lon_deg=p.longitude, height_m=p.elevation_m)
        pulses[str(sp.pulse_id)] = Pulse(
            pulse_uuid=str(sp.pulse_id),
            sensor_id=str(sp.sensor_id),
            t=p.arrival_epoch_s,
            x=float(xyz[0]),
            y=float(xyz[1]),
            z=float(xyz[2]),
            power_db_spl=p.power_db_spl,
            snr_db=p.snr_db,
            features=p.features or {},
        )
    return classifier.incident_features(incident=summary, pulses=pulses, weather=pipeline_weather())


def training_examples() -> tuple[list[TrainingExample], list[tuple[int, str]]]:
    """Reviewed incidents as (features, label), in incident id order, and the skipped ones.

    The label is the current human classification (``training_label``): single or multiple
    gunshots -> gunfire; not gunfire -> the class of its reason; possible gunfire is not
    used. Skipped: ``(incident id, why)`` for incidents whose features cannot be rebuilt.
    """
    from apps.acoustics.classifier import ClassifierError

    examples: list[TrainingExample] = []
    skipped: list[tuple[int, str]] = []
    decisions = (
        ReviewDecision.objects.select_related("incident")
        .exclude(decision=Decision.POSSIBLE_GUNFIRE)
        .order_by("incident_id")
    )
    for decision in decisions:
        label = training_label(
            decision=decision.decision, not_gunfire_reason=decision.not_gunfire_reason
        )
        if label is None:
            continue
        try:
            features = incident_acoustic_features(incident=decision.incident)
        except (ClassifierError, ValueError) as error:
            skipped.append((decision.incident_id, str(error)))
            continue
        examples.append(TrainingExample(decision.incident_id, features, label))
    return examples, skipped
