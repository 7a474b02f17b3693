from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "apps.review"
    label = "review"
    verbose_name = "Incident Review Center"

    def ready(self) -> None:
        from apps.incidents.events import pipeline_incident_changed

        pipeline_incident_changed.connect(_announce_to_review, dispatch_uid="review-queue")


def _announce_to_review(sender, *, incident_id: int, kind: str, **kwargs) -> None:
    from apps.review.services import on_incident_changed

    on_incident_changed(incident_id=incident_id, kind=kind)
