"""Settings hygiene: every environment variable is documented, and the log is readable."""

from __future__ import annotations

import logging
import re

from apps.core.log_filters import QuietSensorTraffic
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
