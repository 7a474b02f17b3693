"""Celery tasks of investigation requests; they receive ids and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.investigations import notifications


@shared_task(name="investigations.notify_closed", acks_late=True)
def notify_investigation_closed(*, investigation_id: int) -> int:
    """E-mail the agency that its request was completed or declined (once)."""
    return notifications.investigation_closed_notify(investigation_id=investigation_id)
