from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"
    verbose_name = "Alerts out (e-mail, dispatch webhooks, CAP, incident reports)"

    def ready(self) -> None:
        from apps.alerts import receivers
        from apps.review import signals

        signals.incident_published.connect(receivers.on_published, dispatch_uid="alerts.published")
        signals.incident_updated.connect(receivers.on_updated, dispatch_uid="alerts.updated")
        signals.incident_cancelled.connect(receivers.on_cancelled, dispatch_uid="alerts.cancelled")
