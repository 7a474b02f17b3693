from django.urls import path

from apps.integrations import api

app_name = "integration-api"

urlpatterns = [
    path("", api.IncidentListView.as_view(), name="incidents"),
    path("<str:system_id>/<int:number>", api.IncidentDetailView.as_view(), name="incident"),
]
