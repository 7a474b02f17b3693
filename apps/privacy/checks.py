"""The server-side counterpart of the sensors' 72 h audio rule.

A sensor keeps raw audio in its ring buffer for at most 72 hours
(``apps.sensor_agent.MAX_RETENTION_HOURS``; the agent refuses a longer setting). Two
server settings would make the server rely on audio older than that, i.e. ask sensors to
keep it longer, and are therefore refused at start-up (``PrivacyConfig.ready``) and by
``manage.py check``:

- ``SENSOR_PULSE_MAX_AGE_S``: pulses older than this are refused. A pulse accepted later
  than 72 h can form an explosive-like incident whose audio request would ask a sensor
  for audio it must already have purged.
- ``AUDIO_REQUEST_EXPIRY_S``: how long an audio request stays open. A request open for
  more than 72 h asks for audio beyond the buffer.
"""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from apps.incidents.conf import incident_setting
from apps.sensor_agent import MAX_RETENTION_HOURS
from apps.sensors.conf import sensor_setting

SENSOR_AUDIO_MAX_S = int(MAX_RETENTION_HOURS * 3600)


def sensor_audio_setting_errors() -> list[str]:
    """One message per setting that would keep sensor audio beyond 72 h."""
    errors = []
    values = {
        "SENSOR_PULSE_MAX_AGE_S": sensor_setting("SENSOR_PULSE_MAX_AGE_S"),
        "AUDIO_REQUEST_EXPIRY_S": incident_setting("AUDIO_REQUEST_EXPIRY_S"),
    }
    for name, value in values.items():
        if value > SENSOR_AUDIO_MAX_S:
            errors.append(
                f"{name}={value} would keep sensor audio longer than the sensors' "
                f"{MAX_RETENTION_HOURS:g} h buffer allows: at most {SENSOR_AUDIO_MAX_S} "
                "(privacy policy)."
            )
    return errors


def refuse_sensor_audio_beyond_buffer() -> None:
    errors = sensor_audio_setting_errors()
    if errors:
        raise ImproperlyConfigured(" ".join(errors))


@checks.register(checks.Tags.security)
def sensor_audio_buffer_check(app_configs=None, **kwargs) -> list[checks.Error]:
    return [checks.Error(text, id="privacy.E001") for text in sensor_audio_setting_errors()]
