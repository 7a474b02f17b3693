"""Settings hygiene: every environment variable is documented, and the log is readable."""

from __future__ import annotations

import logging
import re

from apps.core.log_filters import QuietInProcessTaskSuccess, QuietSensorTraffic
from tests.browser import REPO_ROOT

ENV_READ = re.compile(r"""\benv_[a-z_]+\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def test_every_environment_variable_the_code_reads_is_in_env_example():
    documented = (REPO_ROOT / ".env.example").read_text()
    read = set()
    for path in [*(REPO_ROOT / "shotspotter").rglob("*.py"), *(REPO_ROOT / "apps").rglob("*.py")]:
        read.update(ENV_READ.findall(path.read_text()))
    assert len(read) > 30  # the pattern still finds the settings' reads
    missing = sorted(n for n in read if not re.search(rf"^#? ?{n}=", documented, re.M))
    assert missing == []


def _access_record(path: str, status: int) -> logging.LogRecord:
    details = {"method": "POST", "path": path, "status": status, "time_taken": 0.01}
    return logging.LogRecord(
        "django.channels.server", logging.INFO, __file__, 1, "HTTP %(path)s", (details,), None
    )


def test_development_server_leaves_out_sensor_requests_that_succeeded():
    quiet = QuietSensorTraffic()
    assert not quiet.filter(_access_record("/api/v1/sensor/heartbeat", 200))
    assert not quiet.filter(_access_record("/api/v1/sensor/pulses", 202))
    assert quiet.filter(_access_record("/api/v1/sensor/pulses", 400))
    assert quiet.filter(_access_record("/api/v1/sensor/heartbeat", 503))
    assert quiet.filter(_access_record("/console/", 200))
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "no arguments", None, None)
    assert quiet.filter(plain)


def test_a_django_log_line_is_printed_once():
    """Django's default config gives the "django" logger its own console handler; the
    project's settings remove it so lines reach only the root's (timestamped) handler."""
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate
    assert logging.getLogger().handlers


def _celery_trace_record(msg: str, level: int = logging.INFO) -> logging.LogRecord:
    context = {"id": "b0fd", "name": "incidents.process_coverage_area", "runtime": 0.03}
    context |= {"return_value": "{'pulses_processed': 1}", "description": "raised", "exc": "X"}
    return logging.LogRecord("celery.app.trace", level, __file__, 1, msg, (context,), None)


def test_in_process_tasks_that_succeed_print_no_line_failures_do():
    from celery.app import trace

    quiet = QuietInProcessTaskSuccess()
    assert not quiet.filter(_celery_trace_record(trace.LOG_SUCCESS))
    assert quiet.filter(_celery_trace_record(trace.LOG_FAILURE, logging.ERROR))
    assert quiet.filter(_celery_trace_record(trace.LOG_RETRY))
    # On in embedded mode (make run: tasks in-process); a worker's lines stay as they are.
    from shotspotter import settings as base

    on = base.LOGGING["loggers"]["celery.app.trace"]["filters"] == ["quiet_in_process_task_success"]
    assert on == base.CELERY_TASK_ALWAYS_EAGER


def test_the_in_memory_broker_names_its_host_so_kombu_does_not_warn(caplog):
    """Embedded mode's broker "memory://" named no host: kombu warned "No hostname was
    supplied" when the first task was sent, on every make run."""
    from kombu import Connection

    from shotspotter.celery import IN_MEMORY_BROKER_URL, app, name_the_in_memory_broker_host

    class Configured:
        conf = type("Conf", (), {"broker_url": "memory://"})()

    configured = Configured()
    name_the_in_memory_broker_host(configured)
    assert configured.conf.broker_url == IN_MEMORY_BROKER_URL
    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        Connection(IN_MEMORY_BROKER_URL)._info()
        assert caplog.records == []
        Connection("memory://")._info()  # what it was
        assert "No hostname was supplied" in caplog.text
    if app.conf.broker_url.startswith("memory:"):
        assert app.conf.broker_url == IN_MEMORY_BROKER_URL
