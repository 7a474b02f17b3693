from django.apps import AppConfig


class InvestigationsConfig(AppConfig):
    name = "apps.investigations"
    label = "investigations"
    verbose_name = "Investigation requests"

    def ready(self) -> None:
        # Investigation audio plays through the one audited playback path of
        # apps.evidence (POST /evidence/clips/investigation/<id>/playback, then a token).
        from apps.evidence.services import register_clip_kind
        from apps.investigations.models import InvestigationClip
        from apps.investigations.selectors import (
            investigation_clip_subject,
            may_play_investigation_clip,
        )

        register_clip_kind(
            InvestigationClip,
            may_play=may_play_investigation_clip,
            subject=investigation_clip_subject,
            slug="investigation",
        )
