from django.urls import path

from apps.core import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Application entry pages, each behind its own grant (apps.accounts.access).
    path("console/", views.alert_console, name="alert_console"),
    path("investigator/", views.investigator_portal, name="investigator_portal"),
    path("briefing-room/", views.briefing_room, name="briefing_room"),
    path("siren/", views.siren, name="siren"),
]
