"""Celery tasks of the detection pipeline; they receive ids and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.incidents import pipeline, services


@shared_task(name="incidents.process_coverage_area")
def process_coverage_area(*, coverage_area_id: int) -> dict:
    """Associate, locate, bundle, classify and route the area's new pulses."""
    # Unmark first: a batch committed from now on queues a run of its own.
    services.unmark_coverage_area(coverage_area_id=coverage_area_id)
    return pipeline.process_coverage_area(coverage_area_id=coverage_area_id).as_dict()


@shared_task(name="incidents.sweep")
def sweep() -> dict:
    """Beat: re-queue areas with waiting pulses and close incidents whose window passed."""
    return {
        "areas_queued": services.sweep_unprocessed(),
        "incidents_closed": services.incidents_close_passed(),
    }


@shared_task(name="incidents.expire_audio_requests")
def expire_audio_requests() -> int:
    return services.audio_requests_expire()
