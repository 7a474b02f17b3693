"""Domain events of incidents from the pipeline.

``incident_changed`` is the single place the pipeline announces that an incident entered
review, was refined, was filtered or closed. It sends the ``pipeline_incident_changed``
signal at once, inside the pipeline's transaction, so receivers can store what they
derive from it atomically with the change (the review center stores its queue events and
pushes them once the transaction commits). The log line is written after commit, at
INFO except for ``refined`` (DEBUG): every sensor post re-runs the pipeline over the
incidents around it, so refinements were most of the console during a busy night.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("apps.incidents.events")

KINDS = ("filtered", "entered_review", "refined", "closed")

# Sent with incident_id and kind (one of KINDS).
pipeline_incident_changed = Signal()


def incident_changed(incident_id: int, kind: str) -> None:
    """Announce a change of an incident to receivers, within the current transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown incident event kind {kind!r}; use one of {KINDS}")
    pipeline_incident_changed.send(sender=None, incident_id=incident_id, kind=kind)
    level = logging.DEBUG if kind == "refined" else logging.INFO
    transaction.on_commit(lambda: logger.log(level, "incident %s %s", incident_id, kind))
