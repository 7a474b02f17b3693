"""Writes of the agency-side applications."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.incidents.models import Incident
from apps.portal.models import IncidentOpen
from apps.realtime.models import Audience
from apps.realtime.services import emit

OPENED_KIND = "incident.opened"


def _display_name(user) -> str:
    return user.full_name or user.email


def mark_opened(*, user, incident: Incident) -> bool:
    """Record that ``user`` opened ``incident`` and tell the agency, once per user.

    Returns True the first time. The ``incident.opened`` event stops the blinking
    toaster and the reminder tone on every other console of the agency.
    """
    if user.agency_id != incident.agency_id:
        raise ValueError("a user can only open incidents of their own agency")
    try:
        with transaction.atomic():
            opening = IncidentOpen.objects.create(incident=incident, user=user)
            emit(
                kind=OPENED_KIND,
                audience=Audience.AGENCY,
                agency_id=incident.agency_id,
                incident_id=incident.pk,
                payload={
                    "incident_id": incident.pk,
                    "system_id": incident.agency.system_id,
                    "number": incident.number,
                    "user_id": user.pk,
                    "user": _display_name(user),
                    "opened_at": opening.opened_at.isoformat(),
                },
            )
    except IntegrityError:
        return False  # this user opened it before (or at the same moment elsewhere)
    return True
