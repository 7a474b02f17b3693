"""Writes of the review center: claims, decisions, publishing, and changes after publication.

Errors: bad input raises ``django.core.exceptions.ValidationError`` (answer 400);
everything else raises a ``ReviewError`` subclass whose ``status`` is the HTTP status to
answer with (403 not review staff / not the claim holder, 404 unknown incident, 409 the
incident is not in the state the action needs). Nothing is written when either is raised.

Claims. ``claim_next`` walks the queue in order (``selectors.queue_ordered``) and takes
the first incident it can lock: on PostgreSQL with ``SELECT ... FOR UPDATE SKIP LOCKED``
(a row another reviewer is claiming is skipped, not waited for); on SQLite, which has no
row locks, with a conditional UPDATE of the incident (``status = pending_review`` and no
claim), which takes SQLite's single write lock, so claimers take turns. On both, the
one-to-one ``ReviewClaim.incident`` is the last guard: a second claim of one incident fails
its INSERT and the claimer moves on to the next incident.

Incident writes take the coverage area's pipeline lock (``apps.incidents.locks``), so a
pipeline run refining the same incident never interleaves with a decision.

Events. Review staff get ``review.queued``, ``review.claimed``, ``review.released``,
``review.decided``, ``review.refined`` and ``review.surge`` on the review stream. The
agency gets ``incident.published`` (only from ``publish_incident``), ``incident.comment``,
``incident.reclassified``, ``incident.cancelled`` and ``incident.location_moved``; the
matching ``apps.review.signals`` are sent inside the transaction that makes the change,
so what their receivers record (the alert message and its deliveries) commits with it or
not at all: a publish that commits always has its alert, whatever fails after the commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.audit.services import record_event
from apps.incidents.locks import coverage_area_lock
from apps.incidents.models import Incident, IncidentStatus, incident_path
from apps.realtime.models import Audience
from apps.realtime.services import emit
from apps.review import selectors, signals
from apps.review.conf import review_setting
from apps.review.forms import (
    CommentForm,
    DecisionForm,
    MoveLocationForm,
    PromoteForm,
    ReclassifyForm,
    SurgeForm,
    validated,
)
from apps.review.models import (
    GUNFIRE_DECISIONS,
    Decision,
    Flag,
    HistoryKind,
    IncidentHistory,
    ReviewClaim,
    ReviewDecision,
    SurgeMode,
)

logger = logging.getLogger("apps.review")


# --- Errors -----------------------------------------------------------------------------------


class ReviewError(Exception):
    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotReviewStaff(ReviewError):
    status = 403


class ClaimRequired(ReviewError):
    status = 403


class IncidentNotFound(ReviewError):
    status = 404


class WrongState(ReviewError):
    status = 409


class AlreadyClaimed(WrongState):
    pass


def _require_staff(user) -> None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        raise NotReviewStaff("Log in as review-center staff.")
    if not user.is_irc_reviewer:
        raise NotReviewStaff("Only review-center staff may do this.")


def _incident_for_update(incident_id: int) -> Incident:
    incident = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("agency", "coverage_area", "beat", "district")
        .filter(pk=incident_id)
        .first()
    )
    if incident is None:
        raise IncidentNotFound(f"No incident {incident_id}.")
    return incident


def _area_id(incident_id: int) -> int:
    area_id = Incident.objects.filter(pk=incident_id).values_list("coverage_area_id", flat=True)
    area_id = area_id.first()
    if area_id is None:
        raise IncidentNotFound(f"No incident {incident_id}.")
    return area_id


def _actor_label(user) -> str:
    return selectors.reviewer_label(user)


# --- Review-stream events -------------------------------------------------------------------


def _emit_review(kind: str, incident: Incident, **extra: Any) -> None:
    emit(
        kind=kind,
        audience=Audience.REVIEW,
        incident_id=incident.pk,
        payload={**selectors.queue_payload(incident), **extra},
    )


def on_incident_changed(*, incident_id: int, kind: str) -> None:
    """Tell review staff about a pipeline change (``apps.incidents.events`` kinds).

    ``entered_review`` -> ``review.queued``; ``refined`` of an incident still in review ->
    ``review.refined``; other kinds concern no queue. The pipeline should call this in the
    transaction that made the change (the event is pushed once it commits).
    """
    incident = (
        Incident.objects.select_related("agency", "coverage_area").filter(pk=incident_id).first()
    )
    if incident is None or incident.status != IncidentStatus.PENDING_REVIEW:
        return
    if kind == "entered_review":
        _emit_review("review.queued", incident)
    elif kind == "refined":
        _emit_review("review.refined", incident, revision=incident.revision)


def on_incident_pending(incident_id: int) -> None:
    """An incident entered review (the pipeline's ``entered_review``): ``review.queued``."""
    on_incident_changed(incident_id=incident_id, kind="entered_review")


# --- Claims -------------------------------------------------------------------------------------


def _unclaimed(incident_id: int):
    return Incident.objects.filter(pk=incident_id, status=IncidentStatus.PENDING_REVIEW).filter(
        ~Exists(ReviewClaim.objects.filter(incident_id=OuterRef("pk")))
    )


def _lock_unclaimed(incident_id: int) -> Incident | None:
    """The incident, locked for this transaction, if it is in review and unclaimed."""
    rows = _unclaimed(incident_id)
    if connection.vendor == "postgresql":
        return (
            rows.select_for_update(skip_locked=True, of=("self",))
            .select_related("agency", "coverage_area")
            .first()
        )
    # SQLite: a conditional UPDATE (changes nothing) takes the database's write lock.
    if not rows.update(status=IncidentStatus.PENDING_REVIEW):
        return None
    return Incident.objects.select_related("agency", "coverage_area").get(pk=incident_id)


def _release_claims_of(reviewer, *, except_incident_id: int | None = None) -> None:
    for held in (
        ReviewClaim.objects.select_related("incident__agency", "incident__coverage_area")
        .filter(reviewer=reviewer)
        .exclude(incident_id=except_incident_id)
    ):
        incident = held.incident
        held.delete()
        _emit_review("review.released", incident, reason="claimed another")


def _take(reviewer, incident_id: int) -> Incident | None:
    """Claim one incident in a transaction; None when someone else holds it (or got it)."""
    with transaction.atomic():
        incident = _lock_unclaimed(incident_id)
        if incident is None:
            return None
        _release_claims_of(reviewer, except_incident_id=incident_id)
        now = timezone.now()
        try:
            with transaction.atomic():
                ReviewClaim.objects.create(
                    incident=incident, reviewer=reviewer, claimed_at=now, last_activity_at=now
                )
        except IntegrityError:
            return None
        _emit_review("review.claimed", incident)
    return incident


def claim_next(*, reviewer) -> Incident | None:
    """Claim the first unclaimed incident of the queue, or None when there is none.

    A reviewer holds one incident at a time: a claim of another one is released.
    Two reviewers calling this at once never get the same incident (module docstring).
    """
    _require_staff(reviewer)
    for incident in selectors.queue_ordered(unclaimed_only=True):
        taken = _take(reviewer, incident.pk)
        if taken is not None:
            return taken
    return None


def claim(*, reviewer, incident_id: int) -> ReviewClaim:
    """Claim one given incident; ``AlreadyClaimed`` (409) when someone else holds it."""
    _require_staff(reviewer)
    held = ReviewClaim.objects.filter(incident_id=incident_id).select_related("reviewer").first()
    if held is not None and held.reviewer_id == reviewer.pk:
        touch_claim(reviewer=reviewer, incident_id=incident_id)
        held.refresh_from_db()
        return held
    if _take(reviewer, incident_id) is None:
        status = Incident.objects.filter(pk=incident_id).values_list("status", flat=True).first()
        if status is None:
            raise IncidentNotFound(f"No incident {incident_id}.")
        if status != IncidentStatus.PENDING_REVIEW:
            raise WrongState("This incident is no longer waiting for review.")
        holder = selectors.claim_for_incident(incident_id=incident_id)
        who = _actor_label(holder.reviewer) if holder else "another reviewer"
        raise AlreadyClaimed(f"{who} is reviewing this incident.")
    return ReviewClaim.objects.select_related("reviewer", "incident").get(incident_id=incident_id)


def touch_claim(*, reviewer, incident_id: int, now: dt.datetime | None = None) -> bool:
    """Record activity on a held claim (keeps it from idling out). False if not held."""
    now = now or timezone.now()
    return bool(
        ReviewClaim.objects.filter(incident_id=incident_id, reviewer=reviewer).update(
            last_activity_at=now
        )
    )


def release(*, reviewer, incident_id: int) -> bool:
    """Give a held incident back to the queue. False if the reviewer did not hold it."""
    with transaction.atomic():
        held = (
            ReviewClaim.objects.select_related("incident__agency", "incident__coverage_area")
            .filter(incident_id=incident_id, reviewer=reviewer)
            .first()
        )
        if held is None:
            return False
        incident = held.incident
        held.delete()
        _emit_review("review.released", incident, reason="released")
    return True


def release_idle_claims(*, now: dt.datetime | None = None) -> int:
    """Release every claim idle for longer than ``REVIEW_CLAIM_IDLE_SECONDS``."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=float(review_setting("REVIEW_CLAIM_IDLE_SECONDS")))
    released = 0
    for claim_id in ReviewClaim.objects.filter(last_activity_at__lt=cutoff).values_list(
        "id", flat=True
    ):
        with transaction.atomic():
            held = (
                ReviewClaim.objects.select_related("incident__agency", "incident__coverage_area")
                .filter(pk=claim_id, last_activity_at__lt=cutoff)
                .first()
            )
            if held is None:  # touched or decided meanwhile
                continue
            incident = held.incident
            held.delete()
            _emit_review("review.released", incident, reason="idle")
            released += 1
    return released


# --- Snapshots and history -----------------------------------------------------------------


def _state(incident: Incident, decision: ReviewDecision | None) -> dict:
    return {
        "status": incident.status,
        "decision": decision.decision if decision else None,
        "not_gunfire_reason": (decision.not_gunfire_reason or None) if decision else None,
        "rounds": decision.rounds if decision else incident.rounds,
        "flags": decision.flags if decision else [],
        "latitude": incident.latitude,
        "longitude": incident.longitude,
        "location_note": decision.location_note if decision else "",
        "nearest_address": incident.nearest_address,
        "beat": incident.beat.name if incident.beat_id else None,
        "district": incident.district.name if incident.district_id else None,
    }


def _history(*, incident, kind, actor, before, after, reason="") -> IncidentHistory:
    return IncidentHistory.objects.create(
        incident=incident,
        kind=kind,
        actor=actor,
        actor_name=_actor_label(actor),
        before=before,
        after=after,
        reason=reason or "",
    )


def _move(incident: Incident, *, lat: float, lon: float) -> None:
    from apps.incidents.services import incident_place

    incident.latitude, incident.longitude = lat, lon
    incident.located_at = timezone.now()
    incident_place(incident=incident)
    incident.save(
        update_fields=[
            "latitude",
            "longitude",
            "located_at",
            "beat",
            "district",
            "nearest_address",
            "nearest_address_distance_m",
            "updated_at",
        ]
    )


def _moved_location(value) -> tuple[float | None, float | None]:
    if value is None:
        return None, None
    if isinstance(value, dict):
        return value.get("lat", value.get("latitude")), value.get("lon", value.get("longitude"))
    lat, lon = value
    return lat, lon


# --- Publishing (the one way an alert reaches an agency) -----------------------------------


def alert_payload(*, incident: Incident) -> dict:
    """What an agency is told about a published incident (toaster-ready)."""
    decision = selectors.decision_for(incident=incident)
    return {
        "incident_id": incident.pk,
        "system_id": incident.agency.system_id,
        "number": incident.number,
        "url": incident_path(system_id=incident.agency.system_id, number=incident.number),
        "time": incident.first_shot_at.isoformat(),
        "published_at": incident.published_at.isoformat() if incident.published_at else None,
        "coverage_area": incident.coverage_area.name,
        "type": decision.decision if decision else None,
        "type_label": decision.type_label if decision else "",
        "rounds": decision.rounds if decision else incident.rounds,
        "flags": decision.flags if decision else [],
        "nearest_address": incident.nearest_address or None,
        "beat": incident.beat.name if incident.beat_id else None,
        "district": incident.district.name if incident.district_id else None,
        "lat": incident.latitude,
        "lon": incident.longitude,
        "location_note": (decision.location_note or None) if decision else None,
    }


def _emit_agency(kind: str, incident: Incident, **extra: Any) -> None:
    emit(
        kind=kind,
        audience=Audience.AGENCY,
        agency_id=incident.agency_id,
        incident_id=incident.pk,
        payload={**alert_payload(incident=incident), **extra},
    )


def publish_incident(*, incident: Incident, now: dt.datetime | None = None) -> None:
    """Publish a decided gunfire incident: status, one agency event, one signal.

    Call inside the deciding transaction with the incident locked, after the decision
    (type, rounds, flags, moved location) is saved: the alert is made from it here.
    """
    incident.status = IncidentStatus.PUBLISHED
    incident.published_at = now or timezone.now()
    incident.save(update_fields=["status", "published_at", "updated_at"])
    _emit_agency("incident.published", incident)
    _send_in_transaction(signals.incident_published, incident_id=incident.pk)


def _send_in_transaction(signal, **kwargs) -> None:
    """Send a domain signal inside the change's transaction (see ``apps.review.signals``).

    It used to be sent after the commit, and the alert was then made in a transaction of
    its own: when that one failed (SQLite "database is locked", a broker down), the
    incident stayed published with no alert while the reviewer got a 503 page saying
    the decision "may not have been saved".
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"send {signal!r} inside the transaction that makes the change")
    signal.send(sender=Incident, **kwargs)


# --- Decision ------------------------------------------------------------------------------


def decide(
    *,
    reviewer,
    incident_id: int,
    decision: str,
    rounds: int,
    flags: list[str] | tuple[str, ...] = (),
    not_gunfire_reason: str | None = None,
    moved_location=None,
    location_note: str = "",
    comment: str = "",
    request=None,
) -> ReviewDecision:
    """Decide an incident the reviewer holds: gunfire publishes it, not gunfire dismisses it.

    ``moved_location`` is ``(lat, lon)`` or ``{"lat": .., "lon": ..}``. Raises
    ``ValidationError`` for bad input, ``ClaimRequired`` without the claim, ``WrongState``
    when the incident is not in review.
    """
    _require_staff(reviewer)
    lat, lon = _moved_location(moved_location)
    data = validated(
        DecisionForm(
            data={
                "decision": decision,
                "not_gunfire_reason": not_gunfire_reason or "",
                "rounds": rounds,
                "flags": list(flags or ()),
                "latitude": lat,
                "longitude": lon,
                "location_note": location_note or "",
                "comment": comment or "",
            }
        )
    )
    with coverage_area_lock(_area_id(incident_id)):
        incident = _incident_for_update(incident_id)
        held = ReviewClaim.objects.filter(incident=incident).select_for_update().first()
        if incident.status != IncidentStatus.PENDING_REVIEW:
            raise WrongState(f"This incident is {incident.get_status_display().lower()}.")
        if held is None or held.reviewer_id != reviewer.pk:
            raise ClaimRequired("Claim this incident before deciding it.")
        now = timezone.now()
        before = _state(incident, None)
        chosen = set(data["flags"])
        result = ReviewDecision.objects.create(
            incident=incident,
            decision=data["decision"],
            not_gunfire_reason=data["not_gunfire_reason"] or "",
            rounds=data["rounds"],
            fully_automatic=Flag.FULLY_AUTOMATIC in chosen,
            high_capacity=Flag.HIGH_CAPACITY in chosen,
            multiple_shooters=Flag.MULTIPLE_SHOOTERS in chosen,
            location_note=data["location_note"] if data["latitude"] is not None else "",
            updated_at=now,
            updated_by=reviewer,
            initial_decision=data["decision"],
            initial_not_gunfire_reason=data["not_gunfire_reason"] or "",
            decided_at=now,
            decided_by=reviewer,
            detected_at=incident.detected_at,
            seconds_to_decision=(now - incident.detected_at).total_seconds(),
            machine_class=incident.machine_class,
            machine_probabilities=incident.class_probabilities or {},
            model_version=incident.model_version,
        )
        held.delete()
        if data["latitude"] is not None:
            _move(incident, lat=data["latitude"], lon=data["longitude"])
        incident.rounds = data["rounds"]
        incident.fully_automatic = result.fully_automatic
        incident.multiple_shooters = result.multiple_shooters
        incident.save(update_fields=["rounds", "fully_automatic", "multiple_shooters"])
        gunfire = data["decision"] in GUNFIRE_DECISIONS
        if gunfire:
            publish_incident(incident=incident, now=now)
        else:
            incident.status = IncidentStatus.DISMISSED
            incident.save(update_fields=["status", "updated_at"])
        _history(
            incident=incident,
            kind=HistoryKind.CLASSIFICATION,
            actor=reviewer,
            before=before,
            after=_state(incident, result),
            reason=data["location_note"] if data["latitude"] is not None else "",
        )
        if data["comment"]:
            _history(
                incident=incident,
                kind=HistoryKind.COMMENT,
                actor=reviewer,
                before={},
                after={},
                reason=data["comment"],
            )
        record_event(
            action="review.decided",
            actor=reviewer,
            agency=incident.agency,
            target=incident,
            request=request,
            details={
                "decision": result.decision,
                "not_gunfire_reason": result.not_gunfire_reason,
                "rounds": result.rounds,
                "flags": result.flags,
                "seconds_to_decision": round(result.seconds_to_decision, 3),
                "machine_class": result.machine_class,
                "moved": data["latitude"] is not None,
            },
        )
        _emit_review(
            "review.decided", incident, decision=result.decision, decided_by=_actor_label(reviewer)
        )
    return result


# --- After publication ---------------------------------------------------------------------


def _decided(incident: Incident) -> ReviewDecision:
    decision = ReviewDecision.objects.select_for_update().filter(incident=incident).first()
    if decision is None or incident.status not in (
        IncidentStatus.PUBLISHED,
        IncidentStatus.DISMISSED,
    ):
        raise WrongState("This incident has not been decided yet.")
    return decision


def add_comment(*, author, incident_id: int, text: str, request=None) -> IncidentHistory:
    """A reviewer's comment on a published incident: agency-visible, live to the agency."""
    _require_staff(author)
    data = validated(CommentForm(data={"text": text}))
    with transaction.atomic():
        incident = _incident_for_update(incident_id)
        if incident.status != IncidentStatus.PUBLISHED:
            raise WrongState("Comments are added to published incidents.")
        entry = _history(
            incident=incident,
            kind=HistoryKind.COMMENT,
            actor=author,
            before={},
            after={},
            reason=data["text"],
        )
        record_event(
            action="review.commented",
            actor=author,
            agency=incident.agency,
            target=incident,
            request=request,
            details={"history": entry.pk},
        )
        _emit_agency(
            "incident.comment",
            incident,
            comment={
                "id": entry.pk,
                "author": entry.actor_name,
                "text": entry.reason,
                "created_at": entry.created_at.isoformat(),
            },
        )
        _send_in_transaction(
            signals.incident_updated,
            incident_id=incident.pk,
            change="comment",
            reason=data["text"],
        )
    return entry


def reclassify(
    *,
    reviewer,
    incident_id: int,
    decision: str,
    reason: str,
    rounds: int | None = None,
    flags: list[str] | tuple[str, ...] | None = None,
    not_gunfire_reason: str | None = None,
    request=None,
) -> ReviewDecision:
    """Change the classification of a decided incident; the reason is mandatory.

    Gunfire -> gunfire: ``incident.reclassified`` + ``incident_updated("reclassified")``.
    Gunfire -> not gunfire: the alert is withdrawn (dismissed): ``incident.cancelled`` +
    ``incident_cancelled``. Not gunfire -> gunfire: published (``publish_incident``).
    """
    _require_staff(reviewer)
    with coverage_area_lock(_area_id(incident_id)):
        incident = _incident_for_update(incident_id)
        current = _decided(incident)
        data = validated(
            ReclassifyForm(
                data={
                    "decision": decision,
                    "not_gunfire_reason": not_gunfire_reason or "",
                    "rounds": rounds if rounds is not None else current.rounds,
                    "flags": list(flags) if flags is not None else current.flags,
                    "reason": reason or "",
                }
            )
        )
        before = _state(incident, current)
        was_gunfire = current.is_gunfire
        chosen = set(data["flags"])
        current.decision = data["decision"]
        current.not_gunfire_reason = data["not_gunfire_reason"] or ""
        current.rounds = data["rounds"]
        current.fully_automatic = Flag.FULLY_AUTOMATIC in chosen
        current.high_capacity = Flag.HIGH_CAPACITY in chosen
        current.multiple_shooters = Flag.MULTIPLE_SHOOTERS in chosen
        current.updated_at = timezone.now()
        current.updated_by = reviewer
        current.save()
        incident.rounds = current.rounds
        incident.fully_automatic = current.fully_automatic
        incident.multiple_shooters = current.multiple_shooters
        incident.save(update_fields=["rounds", "fully_automatic", "multiple_shooters"])
        now_gunfire = current.is_gunfire
        if was_gunfire and not now_gunfire:
            incident.status = IncidentStatus.DISMISSED
            incident.save(update_fields=["status", "updated_at"])
        elif now_gunfire and not was_gunfire:
            publish_incident(incident=incident)
        _history(
            incident=incident,
            kind=HistoryKind.RECLASSIFICATION,
            actor=reviewer,
            before=before,
            after=_state(incident, current),
            reason=data["reason"],
        )
        record_event(
            action="review.reclassified",
            actor=reviewer,
            agency=incident.agency,
            target=incident,
            request=request,
            details={
                "before": before["decision"],
                "after": current.decision,
                "reason": data["reason"],
            },
        )
        if was_gunfire and now_gunfire:
            _emit_agency("incident.reclassified", incident, reason=data["reason"])
            _send_in_transaction(
                signals.incident_updated,
                incident_id=incident.pk,
                change="reclassified",
                reason=data["reason"],
            )
        elif was_gunfire:
            _emit_agency("incident.cancelled", incident, reason=data["reason"])
            _send_in_transaction(
                signals.incident_cancelled, incident_id=incident.pk, reason=data["reason"]
            )
    return current


def move_location(
    *, reviewer, incident_id: int, lat: float, lon: float, note: str, request=None
) -> IncidentHistory:
    """Move a published incident's location with a note (e.g. "possibly located behind
    building"): ``incident.location_moved`` + ``incident_updated("location_moved")``."""
    _require_staff(reviewer)
    data = validated(
        MoveLocationForm(data={"latitude": lat, "longitude": lon, "location_note": note or ""})
    )
    with coverage_area_lock(_area_id(incident_id)):
        incident = _incident_for_update(incident_id)
        if incident.status != IncidentStatus.PUBLISHED:
            raise WrongState("Only a published incident's location is moved this way.")
        current = _decided(incident)
        before = _state(incident, current)
        _move(incident, lat=data["latitude"], lon=data["longitude"])
        current.location_note = data["location_note"]
        current.updated_at = timezone.now()
        current.updated_by = reviewer
        current.save(update_fields=["location_note", "updated_at", "updated_by"])
        entry = _history(
            incident=incident,
            kind=HistoryKind.LOCATION_MOVED,
            actor=reviewer,
            before=before,
            after=_state(incident, current),
            reason=data["location_note"],
        )
        record_event(
            action="review.location_moved",
            actor=reviewer,
            agency=incident.agency,
            target=incident,
            request=request,
            details={
                "from": [before["latitude"], before["longitude"]],
                "to": [incident.latitude, incident.longitude],
                "note": data["location_note"],
            },
        )
        _emit_agency("incident.location_moved", incident)
        _send_in_transaction(
            signals.incident_updated, incident_id=incident.pk, change="location_moved"
        )
    return entry


# --- Filtered incidents ----------------------------------------------------------------------


def promote_filtered(*, reviewer, incident_id: int, reason: str, request=None) -> Incident:
    """Send a machine-filtered incident to review and request its audio.

    Audio is requested by the incidents app's own rule (``audio_requests_sync``): only the
    nearest participating sensors, only the window 2 s before the first shot to 4 s after
    the last.
    """
    from apps.acoustics.sound import speed_of_sound
    from apps.incidents.pipeline import pipeline_weather
    from apps.incidents.services import audio_requests_sync

    _require_staff(reviewer)
    data = validated(PromoteForm(data={"reason": reason or ""}))
    with coverage_area_lock(_area_id(incident_id)):
        incident = _incident_for_update(incident_id)
        if incident.status != IncidentStatus.FILTERED:
            raise WrongState("Only machine-filtered incidents can be promoted to review.")
        before = _state(incident, None)
        incident.status = IncidentStatus.PENDING_REVIEW
        incident.save(update_fields=["status", "updated_at"])
        audio_requests_sync(
            incident=incident,
            c=speed_of_sound(pipeline_weather().temperature_c),
            reviewer_asked=True,
        )
        _history(
            incident=incident,
            kind=HistoryKind.PROMOTED,
            actor=reviewer,
            before=before,
            after=_state(incident, None),
            reason=data["reason"],
        )
        record_event(
            action="review.promoted",
            actor=reviewer,
            agency=incident.agency,
            target=incident,
            request=request,
            details={"reason": data["reason"]},
        )
        _emit_review("review.queued", incident, promoted_by=_actor_label(reviewer))
    return incident


# --- Surge mode -----------------------------------------------------------------------------


def set_surge(
    *, actor, coverage_area_id: int, on: bool, threshold: float | None = None, request=None
) -> SurgeMode:
    """Switch surge mode of a coverage area; every switch is in the audit trail."""
    from apps.geo.models import CoverageArea

    _require_staff(actor)
    data = validated(SurgeForm(data={"on": bool(on), "threshold": threshold}))
    area = CoverageArea.objects.select_related("agency").filter(pk=coverage_area_id).first()
    if area is None:
        raise ReviewError(f"No coverage area {coverage_area_id}.")
    with transaction.atomic():
        surge = SurgeMode.objects.select_for_update().filter(coverage_area=area).first()
        if surge is None:
            surge = SurgeMode(coverage_area=area)
        before = {"on": surge.on, "threshold": surge.threshold} if surge.pk else None
        if data["threshold"] is not None:
            surge.threshold = data["threshold"]
        elif data["on"] and not surge.pk:
            surge.threshold = float(review_setting("REVIEW_SURGE_DEFAULT_THRESHOLD"))
        surge.on = data["on"]
        surge.changed_by = actor
        surge.changed_at = timezone.now()
        surge.save()
        record_event(
            action="review.surge_on" if surge.on else "review.surge_off",
            actor=actor,
            agency=area.agency,
            target=area,
            request=request,
            details={"before": before, "on": surge.on, "threshold": surge.threshold},
        )
        emit(
            kind="review.surge",
            audience=Audience.REVIEW,
            payload={
                "coverage_area_id": area.pk,
                "coverage_area": area.name,
                "on": surge.on,
                "threshold": surge.threshold,
                "changed_by": _actor_label(actor),
            },
        )
    return surge


__all__ = [
    "Decision",
    "ReviewError",
    "NotReviewStaff",
    "ClaimRequired",
    "IncidentNotFound",
    "WrongState",
    "AlreadyClaimed",
    "on_incident_changed",
    "on_incident_pending",
    "claim_next",
    "claim",
    "touch_claim",
    "release",
    "release_idle_claims",
    "alert_payload",
    "publish_incident",
    "decide",
    "add_comment",
    "reclassify",
    "move_location",
    "promote_filtered",
    "set_surge",
]
