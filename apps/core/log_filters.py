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


# Celery's format for a task that succeeded (celery.app.trace.LOG_SUCCESS); retries,
# failures and rejections are logged with other formats (and failures at ERROR).
CELERY_TASK_SUCCEEDED = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"


class QuietInProcessTaskSuccess(logging.Filter):
    """Drop Celery's line for a task that succeeded, when tasks run in-process (embedded).

    Under ``make run`` every pulse batch a sensor delivers runs the pipeline in the request
    and Celery printed its whole report dictionary: one long line per delivery, next to
    the request that caused it (whose own access line QuietSensorTraffic leaves out). What
    a run changes is logged by the pipeline itself (incident created, refined, closed).
    Failed and retried tasks keep their lines. Set only with CELERY_TASK_ALWAYS_EAGER: a
    worker's success lines (task ids, run times) stay as Celery prints them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != CELERY_TASK_SUCCEEDED
