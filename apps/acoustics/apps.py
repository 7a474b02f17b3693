from django.apps import AppConfig


class AcousticsConfig(AppConfig):
    name = "apps.acoustics"
    label = "acoustics"
    verbose_name = "Acoustic core"
