"""``manage.py check`` (and so ``migrate``/``runserver``): the server has a signing key.

Without one the sensor API cannot hand out audio requests (sensors upload audio only for
answers signed with the server's key; apps/sensors/server_key.py), so a production
deployment without ``SERVER_SIGNING_KEY_FILE`` is stopped here, not found out at the
first explosive-like incident.
"""

from __future__ import annotations

from django.core import checks

from apps.sensors.server_key import configured_key_path


@checks.register(checks.Tags.security)
def server_signing_key_check(app_configs=None, **kwargs) -> list[checks.Error]:
    if configured_key_path() is not None:
        return []
    return [
        checks.Error(
            "SERVER_SIGNING_KEY_FILE is not set and DEBUG is off: the server cannot sign the "
            "audio requests sensors poll, so no sensor would upload audio.",
            hint="Point SERVER_SIGNING_KEY_FILE at an Ed25519 private key (PEM); "
            "see docs/operations.md, 'Server signing key'.",
            id="sensors.E001",
        )
    ]
