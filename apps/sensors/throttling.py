"""Per-sensor rate limit of the signed sensor API (DRF throttling on the shared cache).

A fixed window per authenticated serial: one atomic ``incr`` in the cache (Redis in
production, so every web process counts together). The cache being down must not stop
ingest (sensor batches are accepted while Redis is away), so an unreachable cache lets
the request through.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger("apps.sensors")

# Defaults: far above what a sensor sends (a batch every second or so plus a heartbeat a
# minute) and above what the ingest benchmark's back-to-back posting reaches per sensor.
DEFAULT_LIMIT = 600
DEFAULT_WINDOW_S = 60


def rate_limit() -> tuple[int, int]:
    """(requests allowed per window, window in seconds); a limit of 0 turns it off."""
    limit = getattr(settings, "SENSOR_API_RATE_LIMIT", DEFAULT_LIMIT)
    window = getattr(settings, "SENSOR_API_RATE_WINDOW_S", DEFAULT_WINDOW_S)
    return limit, window


class SensorRateThrottle(BaseThrottle):
    """At most ``SENSOR_API_RATE_LIMIT`` requests per ``SENSOR_API_RATE_WINDOW_S`` per sensor."""

    def allow_request(self, request, view) -> bool:
        self.wait_s: float | None = None
        limit, window = rate_limit()
        sensor = getattr(request, "sensor", None)
        if limit <= 0 or sensor is None:
            return True  # off, or refused before this by authentication
        now = time.time()
        window_index = int(now // window)
        key = f"sensor-api-rate:{sensor.serial_number}:{window_index}"
        try:
            cache.add(key, 0, timeout=window + 1)
            count = cache.incr(key)
        except Exception:  # noqa: BLE001 - a cache outage must not refuse sensor data
            logger.warning("sensor rate limit not checked: the cache is unreachable")
            return True
        if count <= limit:
            return True
        self.wait_s = (window_index + 1) * window - now
        return False

    def wait(self) -> float | None:
        # Retry-After is a whole number of seconds; never tell a sensor 0.
        return max(1, math.ceil(self.wait_s)) if self.wait_s is not None else None
