"""Review signals -> the alert message of the change, made in the change's transaction.

The review services send these signals inside the transaction that publishes, updates
or cancels (``apps.review.signals``). The message, its webhook deliveries and its e-mail
notifications are made right here, so they commit with the change or not at all: a
published incident always has its alert. Only the sending is queued, after the commit
(``alert_message_record``); if that queueing fails, the rows stay pending and
``alerts.requeue_stalled`` queues them again.
"""

from __future__ import annotations

from apps.alerts.models import MessageKind
from apps.alerts.services import alert_message_record, new_event_id


def _record(incident_id: int, kind: str, change: str = "", reason: str = "") -> None:
    alert_message_record(
        event_uuid=new_event_id(),
        incident_id=int(incident_id),
        kind=kind,
        change=change,
        reason=reason,
        with_emails=True,
    )


def on_published(sender, incident_id, **kwargs) -> None:
    _record(incident_id, MessageKind.PUBLISH)


def on_updated(sender, incident_id, change, reason="", **kwargs) -> None:
    _record(incident_id, MessageKind.UPDATE, change, reason or "")


def on_cancelled(sender, incident_id, reason="", **kwargs) -> None:
    _record(incident_id, MessageKind.CANCEL, reason=reason or "")
