"""Review signals -> Celery tasks (ids only; the task does the work)."""

from __future__ import annotations

from django.db import transaction

from apps.alerts.models import MessageKind
from apps.alerts.services import new_event_id


def _queue(incident_id: int, kind: str, change: str = "") -> None:
    from apps.alerts import tasks

    event_id = new_event_id()
    transaction.on_commit(
        lambda: tasks.record_message.delay(event_id, int(incident_id), kind, change)
    )


def on_published(sender, incident_id, **kwargs) -> None:
    _queue(incident_id, MessageKind.PUBLISH)


def on_updated(sender, incident_id, change, **kwargs) -> None:
    _queue(incident_id, MessageKind.UPDATE, change)


def on_cancelled(sender, incident_id, **kwargs) -> None:
    _queue(incident_id, MessageKind.CANCEL)
