"""Celery tasks of the sensor network; they receive ids and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.sensors import services


@shared_task(name="sensors.process_pulse_batch")
def process_pulse_batch(*, sensor_id: int, pulse_ids: list[int]) -> int:
    """Hand newly stored pulses to the detection pipeline.

    For now this marks them as processed; association and location plug in here.
    """
    return services.pulses_mark_processed(pulse_ids=pulse_ids)


@shared_task(name="sensors.purge_used_nonces")
def purge_used_nonces() -> int:
    return services.used_nonces_purge()


@shared_task(name="sensors.update_missed_heartbeats")
def update_missed_heartbeats() -> int:
    return services.sensors_update_missed_heartbeats()
