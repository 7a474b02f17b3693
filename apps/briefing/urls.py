from django.urls import path

from apps.briefing import views

app_name = "briefing"

urlpatterns = [
    path("", views.index, name="index"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("export.geojson", views.export_geojson, name="export_geojson"),
]
