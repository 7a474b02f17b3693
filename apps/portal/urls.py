from django.urls import path

from apps.portal import views

app_name = "portal"

urlpatterns = [
    path("console/", views.console, name="console"),
    path(
        "console/incident/<str:system_id>/<int:number>",
        views.console_incident,
        name="console_incident",
    ),
    path("investigator/", views.investigator, name="investigator"),
    path(
        "investigator/incident/<str:system_id>/<int:number>",
        views.investigator_incident,
        name="investigator_incident",
    ),
    path("siren/", views.siren, name="siren"),
    # The secure link of every incident (apps.incidents.models.incident_path).
    path("incident/<str:system_id>/<int:number>", views.siren_incident, name="siren_incident"),
]
