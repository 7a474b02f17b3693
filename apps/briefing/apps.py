from django.apps import AppConfig


class BriefingConfig(AppConfig):
    name = "apps.briefing"
    label = "briefing"
    verbose_name = "Briefing Room (crime analysis)"
