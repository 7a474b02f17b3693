from django.urls import path

from apps.evidence import views

app_name = "evidence"

urlpatterns = [
    # The one way to play stored audio: authorise (audited), then fetch with the token.
    path("clips/<int:clip_id>/playback", views.clip_playback, name="clip_playback"),
    # Other registered kinds of stored audio (``services.register_clip_kind(slug=...)``).
    path(
        "clips/<slug:kind>/<int:clip_id>/playback",
        views.kind_clip_playback,
        name="kind_clip_playback",
    ),
    path("playback/<str:token>", views.playback_stream, name="playback_stream"),
]
