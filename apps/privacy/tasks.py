"""Celery tasks of the privacy app; safe to run twice (a second run finds nothing more)."""

from __future__ import annotations

from celery import shared_task

from apps.privacy import services
from apps.privacy.models import RetentionTrigger


@shared_task(name="privacy.apply_retention")
def apply_retention() -> dict[str, int]:
    report = services.retention_apply(trigger=RetentionTrigger.BEAT)
    return report.counts
