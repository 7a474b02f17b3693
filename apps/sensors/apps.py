from django.apps import AppConfig


class SensorsConfig(AppConfig):
    name = "apps.sensors"
    label = "sensors"
    verbose_name = "Sensor network"

    def ready(self) -> None:
        from apps.sensors import checks, schema  # noqa: F401  (check, OpenAPI extension)
