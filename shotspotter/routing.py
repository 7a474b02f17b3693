"""Websocket routes of every app, collected in one place."""

from apps.realtime.routing import websocket_urlpatterns as realtime_routes

websocket_urlpatterns: list = [*realtime_routes]
