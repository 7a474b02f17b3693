"""Logging filters named in ``settings.LOGGING``."""

from __future__ import annotations

import logging

SENSOR_API_PREFIX = "/api/v1/sensor/"


class QuietSensorTraffic(logging.Filter):
    """Drop the development server's access lines for sensor requests that succeeded.

    Sixteen simulated sensors send a heartbeat or a pulse batch several times a second;
    their lines would bury everything else ``make run`` prints. Sensor requests that fail
    (4xx, 5xx) are kept, and so is every other request. ``LOG_SENSOR_REQUESTS=1`` keeps
    them all.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        details = record.args if isinstance(record.args, dict) else None
        if not details:
            return True
        path = str(details.get("path", ""))
        status = details.get("status")
        if not path.startswith(SENSOR_API_PREFIX) or not isinstance(status, int):
            return True
        return status >= 400
