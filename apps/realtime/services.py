"""The one way to publish a live update: ``emit``.

It stores the event and, once the surrounding transaction commits, pushes it to the
Channels group of its audience. Consumers re-check permission for every event they
forward (see ``selectors.may_receive``), so a group message is a hint, never a grant.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from apps.realtime.models import Audience, RealtimeEvent

logger = logging.getLogger(__name__)

# The message type consumers implement as a handler method ``realtime_event``.
MESSAGE_TYPE = "realtime.event"


def group_name(*, audience: str, agency_id: int | None) -> str:
    if audience == Audience.REVIEW:
        return "review"
    if audience == Audience.AGENCY and agency_id:
        return f"agency.{agency_id}"
    raise ValueError(f"no group for audience {audience!r} and agency {agency_id!r}")


def emit(
    *,
    kind: str,
    audience: str,
    payload: dict,
    agency_id: int | None = None,
    incident_id: int | None = None,
) -> RealtimeEvent:
    """Record an event and push it after commit. Returns the stored event."""
    if audience not in Audience.values:
        raise ValueError(f"unknown audience {audience!r}")
    group = group_name(audience=audience, agency_id=agency_id)
    event = RealtimeEvent.objects.create(
        kind=kind,
        audience=audience,
        agency_id=agency_id if audience == Audience.AGENCY else None,
        incident_id=incident_id,
        payload=payload,
    )
    transaction.on_commit(lambda: push(event=event, group=group))
    return event


def push(*, event: RealtimeEvent, group: str) -> bool:
    """Send one stored event to its group; a failed push only delays it (catch-up)."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(group, {"type": MESSAGE_TYPE, "event": event.as_message()})
    except Exception:  # noqa: BLE001 - Redis down must not break the writer
        logger.warning("realtime push of event %s to %s failed; clients catch up", event.pk, group)
        return False
    return True
