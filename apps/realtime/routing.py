from django.urls import path

from apps.realtime import consumers

websocket_urlpatterns = [
    path("ws/review/", consumers.ReviewStreamConsumer.as_asgi()),
    path("ws/agency/", consumers.AgencyStreamConsumer.as_asgi()),
]
