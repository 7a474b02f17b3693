# The Briefing Room is tested with the same alert settings and signal helper as alerts.
from tests.alerts.conftest import _alert_settings, publish  # noqa: F401
