"""Reads on the audit trail; an agency sees only the events that concern it."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import Q, QuerySet

from apps.accounts.models import Agency
from apps.audit.models import AuditEvent


def agency_events(
    *,
    agency: Agency,
    action: str = "",
    actor: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    """Events of ``agency``, newest first. ``actor`` is part of who did it, as the page
    names them: a user's e-mail, or the name or prefix of the agency's API token that read
    (``apps.audit.labels.actor_label``). Dates are whole days in the agency's time zone,
    both ends included."""
    events = AuditEvent.objects.filter(agency=agency)
    if action:
        events = events.filter(action=action)
    actor = actor.strip()
    if actor:
        # Only this agency's events are searched, so another agency's tokens never match.
        token = Q(details__api_token__name__icontains=actor) | Q(
            details__api_token__prefix__icontains=actor
        )
        events = events.filter(Q(actor_email__icontains=actor) | (Q(actor_email="") & token))
    tz = zoneinfo.ZoneInfo(agency.time_zone)
    if date_from:
        events = events.filter(occurred_at__gte=dt.datetime.combine(date_from, dt.time(), tz))
    if date_to:
        next_day = date_to + dt.timedelta(days=1)
        events = events.filter(occurred_at__lt=dt.datetime.combine(next_day, dt.time(), tz))
    return events.order_by("-occurred_at", "-id")


def agency_event_actions(*, agency: Agency) -> list[str]:
    """The distinct actions recorded for ``agency``, for the filter drop-down."""
    events = AuditEvent.objects.filter(agency=agency).order_by("action")
    return list(events.values_list("action", flat=True).distinct())
