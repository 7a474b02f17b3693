"""Celery tasks of the sensor network; they receive ids and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.sensors import services


@shared_task(name="sensors.process_pulse_batch")
def process_pulse_batch(*, sensor_id: int, pulse_ids: list[int]) -> int:
    """Mark pulses of sensors outside every coverage area as processed.

    Pulses of a coverage area go to ``incidents.process_coverage_area`` instead (see
    ``services.on_pulses_accepted``); alone they can never be located.
    """
    return services.pulses_mark_processed(pulse_ids=pulse_ids)


@shared_task(name="sensors.purge_used_nonces")
def purge_used_nonces() -> int:
    return services.used_nonces_purge()


@shared_task(name="sensors.update_missed_heartbeats")
def update_missed_heartbeats() -> int:
    return services.sensors_update_missed_heartbeats()
