"""Reads on the sensor registry."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from apps.sensors.models import Sensor, SensorPulse


def sensor_get_by_serial(*, serial: str) -> Sensor | None:
    return Sensor.objects.filter(serial_number=serial).first()


def sensor_list(*, agency=None, status: str | None = None) -> QuerySet[Sensor]:
    qs = Sensor.objects.select_related("agency", "coverage_area")
    if agency is not None:
        qs = qs.filter(agency=agency)
    if status is not None:
        qs = qs.filter(status=status)
    return qs


def pulses_in_window(
    *, coverage_area_id: int | None, start: dt.datetime, end: dt.datetime
) -> QuerySet[SensorPulse]:
    """Pulses of one coverage area with start <= arrival_time < end, oldest first."""
    return SensorPulse.objects.filter(
        coverage_area_id=coverage_area_id, arrival_time__gte=start, arrival_time__lt=end
    ).order_by("arrival_time", "id")


def pulses_by_ids(*, pulse_ids: list[int]) -> QuerySet[SensorPulse]:
    return SensorPulse.objects.filter(id__in=pulse_ids).select_related("sensor")
