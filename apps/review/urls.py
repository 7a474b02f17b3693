from django.urls import path

from apps.review import views

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/rows/", views.queue_rows, name="queue_rows"),
    path("claim-next/", views.claim_next, name="claim_next"),
    path("incident/<int:incident_id>/", views.incident, name="incident"),
    path("incident/<int:incident_id>/claim/", views.claim, name="claim"),
    path("incident/<int:incident_id>/release/", views.release, name="release"),
    path("incident/<int:incident_id>/touch/", views.touch, name="touch"),
    path("incident/<int:incident_id>/decide/", views.decide, name="decide"),
    path("incident/<int:incident_id>/comment/", views.comment, name="comment"),
    path("incident/<int:incident_id>/reclassify/", views.reclassify, name="reclassify"),
    path("filtered/", views.filtered, name="filtered"),
    path("filtered/<int:incident_id>/promote/", views.promote, name="promote"),
    path("surge/<int:area_id>/", views.surge, name="surge"),
    path("metrics/", views.metrics, name="metrics"),
]
