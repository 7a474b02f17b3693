from django.urls import path

from apps.realtime import views

app_name = "realtime"

# The polling fallback of /ws/agency/ and /ws/review/ (same streams, same checks).
urlpatterns = [
    path("agency/events", views.agency_events, name="agency_events"),
    path("review/events", views.review_events, name="review_events"),
]
