from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "apps.integrations"
    label = "integrations"
    verbose_name = "Integrations (dispatch / CAD read API)"

    def ready(self) -> None:
        from apps.integrations import schema  # noqa: F401  (registers the bearer scheme)
