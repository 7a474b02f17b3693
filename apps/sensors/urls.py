from django.urls import path

from apps.sensors import api

app_name = "sensor-api"

urlpatterns = [
    path("pulses", api.PulseBatchView.as_view(), name="pulses"),
    path("heartbeat", api.HeartbeatView.as_view(), name="heartbeat"),
    path("audio-requests", api.AudioRequestListView.as_view(), name="audio-requests"),
    path("audio-requests/<int:request_id>", api.AudioUploadView.as_view(), name="audio-upload"),
]
