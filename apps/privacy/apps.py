from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "apps.privacy"
    label = "privacy"
    verbose_name = "Privacy: retention and audit export"

    def ready(self) -> None:
        from apps.privacy import checks

        # The server-side counterpart of the sensors' 72 h rule: refuse to start at all.
        checks.refuse_sensor_audio_beyond_buffer()
