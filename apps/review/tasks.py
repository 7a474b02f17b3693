"""Celery tasks of the review center (thin: the services do the work)."""

from __future__ import annotations

from celery import shared_task

from apps.review import services


@shared_task(name="review.release_idle_claims")
def release_idle_claims() -> int:
    """Beat: give idle claims back to the queue (``REVIEW_CLAIM_IDLE_SECONDS``)."""
    return services.release_idle_claims()


@shared_task(name="review.incident_changed")
def incident_changed(*, incident_id: int, kind: str) -> None:
    """Queue-change notification for review staff, for callers outside a transaction."""
    services.on_incident_changed(incident_id=incident_id, kind=kind)
