from django.urls import path

from apps.sensors import api

app_name = "sensor-api"

urlpatterns = [
    path("pulses", api.PulseBatchView.as_view(), name="pulses"),
    path("heartbeat", api.HeartbeatView.as_view(), name="heartbeat"),
]
