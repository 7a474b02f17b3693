"""Domain events of incidents, sent after the transaction that caused them commits.

``incident_changed`` is the single place the pipeline announces that an incident entered
review, was refined, was filtered or closed. For now it logs and sends a Channels group
message to ``"review-queue"``::

    {"type": "incident.changed", "incident_id": 12, "kind": "entered_review"}

so a consumer in that group handles it in its ``incident_changed`` method (issue 5).
A channel layer that is down (Redis stopped) costs the live push, never the incident.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("apps.incidents.events")

REVIEW_QUEUE_GROUP = "review-queue"
KINDS = ("filtered", "entered_review", "refined", "closed")


def _send(incident_id: int, kind: str) -> None:
    logger.info("incident %s %s", incident_id, kind)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            REVIEW_QUEUE_GROUP,
            {"type": "incident.changed", "incident_id": incident_id, "kind": kind},
        )
    except Exception:  # the event is a notification; the data is already committed
        logger.warning(
            "could not notify %s of incident %s %s",
            REVIEW_QUEUE_GROUP,
            incident_id,
            kind,
            exc_info=True,
        )


def incident_changed(incident_id: int, kind: str) -> None:
    """Announce a change of an incident once the current transaction commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown incident event kind {kind!r}; use one of {KINDS}")
    transaction.on_commit(lambda: _send(incident_id, kind))
