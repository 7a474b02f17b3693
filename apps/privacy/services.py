"""Retention: what the privacy policy says is deleted, deleted on time, and logged.

Rules (periods from ``apps.privacy.conf``; each counted back from one ``now``):

- ``filtered_incidents``: machine-filtered incidents whose last shot is older than
  ``RETENTION_FILTERED_INCIDENTS_DAYS`` are deleted with their shots and their pulses.
  One a human has touched (history entries, alert messages or clips) is kept.
- ``pulses``: summary pulses older than ``RETENTION_PULSES_DAYS`` (arrival time) that
  belong to no located shot. A pulse of any incident that is kept (pending review,
  published, dismissed) is part of that incident's record and is never deleted here.
- ``dismissed_audio``: audio clips of incidents decided "not gunfire" (status dismissed)
  whose decision is older than ``RETENTION_DISMISSED_AUDIO_DAYS``: the file is removed
  from storage and the clip row deleted; the incident keeps its summary.
- ``investigation_audio``: audio clips of investigation requests declined by the review
  center or cancelled by the agency, closed longer ago than
  ``RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS``: files removed, clip rows deleted; the
  request keeps its record (audio requests, timeline) and gets an
  ``investigation.audio_purged`` event on its timeline.
- Published incident audio and the audio of completed investigation requests are
  evidence: no rule selects them. Open requests' audio is still being reviewed: kept.

A real run writes a ``RetentionRun`` and one ``retention.purge`` audit event for the
platform (agency empty) plus one per agency whose data was purged (so the agency's audit
log shows it). A dry run deletes nothing, writes nothing, and reports the same counts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import Agency
from apps.alerts.models import AlertMessage
from apps.audit.services import record_event
from apps.incidents.models import AudioClip, Incident, IncidentStatus, Shot, ShotPulse
from apps.investigations.models import (
    InvestigationClip,
    InvestigationRequest,
    InvestigationStatus,
)
from apps.privacy.conf import MINIMUM_DAYS, retention_setting
from apps.privacy.models import RetentionRun, RetentionTrigger
from apps.review.models import IncidentHistory
from apps.sensors.models import SensorPulse

logger = logging.getLogger(__name__)

COUNT_KEYS = (
    "filtered_incidents",
    "filtered_incident_shots",
    "filtered_incident_pulses",
    "pulses",
    "dismissed_audio_clips",
    "dismissed_audio_files",
    "investigation_audio_clips",
    "investigation_audio_files",
)
# Investigation requests whose audio retention deletes: never given to the agency.
PURGED_INVESTIGATION_STATUSES = (InvestigationStatus.DECLINED, InvestigationStatus.CANCELLED)


class RetentionConfigurationError(ValueError):
    pass


@dataclass
class RetentionReport:
    now: dt.datetime
    dry_run: bool
    cutoffs: dict[str, dt.datetime]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    # Agency system id -> counts of that agency's rows.
    per_agency: dict[str, dict[str, int]] = field(default_factory=dict)
    run_id: int | None = None

    def add(self, *, key: str, agency: str, count: int) -> None:
        if not count:
            return
        self.counts[key] += count
        self.per_agency.setdefault(agency, dict.fromkeys(COUNT_KEYS, 0))[key] += count


def retention_periods() -> dict[str, int]:
    """Days per rule, validated (a wrong value stops the run with a clear error)."""
    names = {
        "filtered_incidents": "RETENTION_FILTERED_INCIDENTS_DAYS",
        "pulses": "RETENTION_PULSES_DAYS",
        "dismissed_audio": "RETENTION_DISMISSED_AUDIO_DAYS",
        "investigation_audio": "RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS",
    }
    periods = {}
    for rule, name in names.items():
        value = retention_setting(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise RetentionConfigurationError(f"{name} must be a whole number of days.")
        if value < MINIMUM_DAYS[name]:
            raise RetentionConfigurationError(
                f"{name} must be at least {MINIMUM_DAYS[name]} days; got {value}."
            )
        periods[rule] = value
    return periods


def retention_cutoffs(*, now: dt.datetime) -> dict[str, dt.datetime]:
    return {rule: now - dt.timedelta(days=days) for rule, days in retention_periods().items()}


# --- What each rule selects -----------------------------------------------------------------


def expired_filtered_incidents(*, cutoff: dt.datetime) -> QuerySet[Incident]:
    """Filtered incidents past the period that no human has touched."""
    return (
        Incident.objects.filter(status=IncidentStatus.FILTERED, last_shot_at__lt=cutoff)
        .exclude(Exists(IncidentHistory.objects.filter(incident=OuterRef("pk"))))
        .exclude(Exists(AlertMessage.objects.filter(incident=OuterRef("pk"))))
        .exclude(Exists(AudioClip.objects.filter(incident=OuterRef("pk"))))
    )


def expired_pulses(*, cutoff: dt.datetime) -> QuerySet[SensorPulse]:
    """Pulses past the period that belong to no located shot."""
    return SensorPulse.objects.filter(arrival_time__lt=cutoff).exclude(
        Exists(ShotPulse.objects.filter(pulse=OuterRef("pk")))
    )


def expired_dismissed_audio(*, cutoff: dt.datetime) -> QuerySet[AudioClip]:
    """Clips of incidents decided "not gunfire" longer ago than the period.

    The decision's time is its last change (``ReviewDecision.updated_at``), so a
    reclassification to "not gunfire" starts the period again. Only dismissed incidents
    are selected: published audio is evidence and never matches.
    """
    return AudioClip.objects.filter(incident__status=IncidentStatus.DISMISSED).filter(
        Q(incident__review_decision__updated_at__lt=cutoff)
        | Q(incident__review_decision__isnull=True, incident__last_shot_at__lt=cutoff)
    )


def expired_investigation_audio(*, cutoff: dt.datetime) -> QuerySet[InvestigationClip]:
    """Clips of investigation requests declined or cancelled longer ago than the period.

    Completed requests gave the agency its evidence (kept, like published incident
    audio); open ones are still being reviewed. A closed request never reopens, so its
    closing time is final.
    """
    return InvestigationClip.objects.filter(
        investigation__status__in=PURGED_INVESTIGATION_STATUSES,
        investigation__closed_at__lt=cutoff,
    )


# --- Applying them --------------------------------------------------------------------------


def _agency_ids_to_system_ids() -> dict[int, str]:
    return dict(Agency.objects.values_list("id", "system_id"))


def _next_batch(queryset: QuerySet, *, after: int) -> list[int]:
    """The next primary keys due, in order (keyset pagination: rows kept are not re-read)."""
    size = retention_setting("RETENTION_BATCH_SIZE")
    return list(queryset.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:size])


def _count_filtered(*, report: RetentionReport, agency: str, incident_ids: list[int]) -> list[int]:
    """Count the incidents, their shots and pulses for the report; return the pulse ids."""
    pulse_ids = list(
        ShotPulse.objects.filter(shot__incident_id__in=incident_ids).values_list(
            "pulse_id", flat=True
        )
    )
    shots = Shot.objects.filter(incident_id__in=incident_ids).count()
    report.add(key="filtered_incidents", agency=agency, count=len(incident_ids))
    report.add(key="filtered_incident_shots", agency=agency, count=shots)
    report.add(key="filtered_incident_pulses", agency=agency, count=len(pulse_ids))
    return pulse_ids


def _by_agency(rows) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = defaultdict(list)
    for agency_id, pk in rows:
        grouped[agency_id].append(pk)
    return grouped


def _purge_filtered_incidents(*, report: RetentionReport, agencies: dict[int, str]) -> None:
    queryset = expired_filtered_incidents(cutoff=report.cutoffs["filtered_incidents"])
    if report.dry_run:
        grouped = _by_agency(queryset.values_list("agency_id", "pk"))
        for agency_id, incident_ids in grouped.items():
            _count_filtered(report=report, agency=agencies[agency_id], incident_ids=incident_ids)
        return
    last = 0
    while ids := _next_batch(queryset, after=last):
        with transaction.atomic():
            # Re-read under lock: a human may have touched one since it was selected.
            locked = list(queryset.filter(pk__in=ids).select_for_update().values_list("pk"))
            rows = Incident.objects.filter(pk__in=[pk for (pk,) in locked])
            for agency_id, incident_ids in _by_agency(rows.values_list("agency_id", "pk")).items():
                pulse_ids = _count_filtered(
                    report=report, agency=agencies[agency_id], incident_ids=incident_ids
                )
                # Shots and their shot-pulse links go with the incident (CASCADE) ...
                Incident.objects.filter(pk__in=incident_ids).delete()
                # ... and the pulses, now free, with them.
                SensorPulse.objects.filter(pk__in=pulse_ids).delete()
        last = ids[-1]


def _pulse_counts(queryset: QuerySet[SensorPulse]) -> list[tuple[int, int]]:
    rows = queryset.order_by().values("sensor__agency_id").annotate(n=Count("pk"))
    return [(row["sensor__agency_id"], row["n"]) for row in rows]


def _purge_pulses(*, report: RetentionReport, agencies: dict[int, str]) -> None:
    queryset = expired_pulses(cutoff=report.cutoffs["pulses"])
    if report.dry_run:
        for agency_id, count in _pulse_counts(queryset):
            report.add(key="pulses", agency=agencies[agency_id], count=count)
        return
    last = 0
    while ids := _next_batch(queryset, after=last):
        with transaction.atomic():
            # The filter re-checks "no shot" at delete time; the PROTECT foreign key of
            # ShotPulse refuses the delete should a shot take one concurrently.
            batch = queryset.filter(pk__in=ids)
            counts = _pulse_counts(batch)
            batch.delete()
        for agency_id, count in counts:
            report.add(key="pulses", agency=agencies[agency_id], count=count)
        last = ids[-1]


def _purge_dismissed_audio(*, report: RetentionReport, agencies: dict[int, str]) -> None:
    queryset = expired_dismissed_audio(cutoff=report.cutoffs["dismissed_audio"])
    if report.dry_run:
        for agency_id, name in queryset.values_list("incident__agency_id", "file"):
            system_id = agencies[agency_id]
            report.add(key="dismissed_audio_clips", agency=system_id, count=1)
            if name and default_storage.exists(name):
                report.add(key="dismissed_audio_files", agency=system_id, count=1)
        return
    last = 0
    while ids := _next_batch(queryset, after=last):
        with transaction.atomic():
            # Lock the incidents (the review center's decisions lock them too), then
            # re-read: a reclassification may have published one meanwhile.
            list(
                Incident.objects.filter(audio_clips__pk__in=ids)
                .select_for_update()
                .values_list("pk")
            )
            rows = list(
                queryset.filter(pk__in=ids).values_list("pk", "incident__agency_id", "file")
            )
            AudioClip.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        # The files go once their rows are gone for good: a failed transaction keeps both.
        for _, agency_id, name in rows:
            system_id = agencies[agency_id]
            report.add(key="dismissed_audio_clips", agency=system_id, count=1)
            if name and default_storage.exists(name):
                default_storage.delete(name)
                report.add(key="dismissed_audio_files", agency=system_id, count=1)
        last = ids[-1]


def _purge_investigation_audio(*, report: RetentionReport, agencies: dict[int, str]) -> None:
    days = retention_setting("RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS")
    queryset = expired_investigation_audio(cutoff=report.cutoffs["investigation_audio"])
    if report.dry_run:
        for agency_id, name in queryset.values_list("investigation__agency_id", "file"):
            system_id = agencies[agency_id]
            report.add(key="investigation_audio_clips", agency=system_id, count=1)
            if name and default_storage.exists(name):
                report.add(key="investigation_audio_files", agency=system_id, count=1)
        return
    # In batches of requests, not clips: all of a request's clips go together, with one
    # event on its timeline.
    due_requests = InvestigationRequest.objects.filter(
        Exists(queryset.filter(investigation=OuterRef("pk")))
    )
    last = 0
    while ids := _next_batch(due_requests, after=last):
        with transaction.atomic():
            # Lock the requests (every step on one locks it), then re-read what is due.
            locked = list(
                InvestigationRequest.objects.filter(pk__in=ids)
                .select_for_update(of=("self",))
                .select_related("agency")
                .order_by("pk")
            )
            rows = list(
                queryset.filter(investigation_id__in=ids).values_list(
                    "pk", "investigation_id", "investigation__agency_id", "file"
                )
            )
            InvestigationClip.objects.filter(pk__in=[row[0] for row in rows]).delete()
            by_request: dict[int, int] = defaultdict(int)
            for _, investigation_id, _, _ in rows:
                by_request[investigation_id] += 1
            for investigation in locked:
                if not by_request.get(investigation.pk):
                    continue
                # On the request's own timeline too, so the agency sees why the audio is gone.
                record_event(
                    action="investigation.audio_purged",
                    agency=investigation.agency,
                    target=investigation,
                    target_label=investigation.reference,
                    details={
                        "reference": investigation.reference,
                        "status": investigation.status,
                        "clips": by_request[investigation.pk],
                        "days": days,
                    },
                )
        # The files go once their rows are gone for good: a failed transaction keeps both.
        for _, _, agency_id, name in rows:
            system_id = agencies[agency_id]
            report.add(key="investigation_audio_clips", agency=system_id, count=1)
            if name and default_storage.exists(name):
                default_storage.delete(name)
                report.add(key="investigation_audio_files", agency=system_id, count=1)
        last = ids[-1]


def retention_apply(
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    trigger: str = RetentionTrigger.COMMAND,
) -> RetentionReport:
    """Apply every retention rule once; return what was (or, dry, would be) deleted."""
    if trigger not in RetentionTrigger.values:
        raise RetentionConfigurationError(f"Unknown retention trigger {trigger!r}.")
    now = now or timezone.now()
    report = RetentionReport(now=now, dry_run=dry_run, cutoffs=retention_cutoffs(now=now))
    agencies = _agency_ids_to_system_ids()
    started = timezone.now()
    # Filtered incidents first: their pulses are counted (and deleted) with them.
    _purge_filtered_incidents(report=report, agencies=agencies)
    _purge_pulses(report=report, agencies=agencies)
    _purge_dismissed_audio(report=report, agencies=agencies)
    _purge_investigation_audio(report=report, agencies=agencies)
    if dry_run:
        return report
    report.run_id = _log_run(report=report, started=started, trigger=trigger).pk
    logger.info("retention run %s: %s", report.run_id, report.counts)
    return report


def _log_run(*, report: RetentionReport, started: dt.datetime, trigger: str) -> RetentionRun:
    cutoffs = {rule: cutoff.isoformat() for rule, cutoff in report.cutoffs.items()}
    periods = retention_periods()
    with transaction.atomic():
        run = RetentionRun.objects.create(
            started_at=started,
            finished_at=timezone.now(),
            trigger=trigger,
            now=report.now,
            cutoffs=cutoffs,
            counts=report.counts,
            per_agency=report.per_agency,
        )
        details = {
            "run": run.pk,
            "trigger": trigger,
            "periods_days": periods,
            "cutoffs": cutoffs,
            "counts": report.counts,
        }
        record_event(
            action="retention.purge",
            target=run,
            details={**details, "per_agency": report.per_agency},
        )
        affected = Agency.objects.filter(system_id__in=report.per_agency)
        by_system_id = {agency.system_id: agency for agency in affected}
        for system_id, counts in report.per_agency.items():
            record_event(
                action="retention.purge",
                agency=by_system_id[system_id],
                target=run,
                details={**details, "counts": counts},
            )
    return run
