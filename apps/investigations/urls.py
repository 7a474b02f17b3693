from django.urls import path

from apps.investigations import views

app_name = "investigations"

urlpatterns = [
    # Agency side (Investigator Portal).
    path("", views.agency_list, name="list"),
    path("new/", views.agency_file, name="file"),
    path("<int:investigation_id>/", views.agency_detail, name="detail"),
    # The filer or the agency's super user, while open; audited. (Audio plays through
    # apps.evidence: evidence:kind_clip_playback with kind "investigation".)
    path("<int:investigation_id>/cancel/", views.agency_cancel, name="cancel"),
    # Review side (verified review-center staff).
    path("review/", views.review_queue, name="review_queue"),
    path("review/<int:investigation_id>/", views.review_detail, name="review"),
    path("review/<int:investigation_id>/search/", views.review_search, name="search"),
    path("review/<int:investigation_id>/locate/", views.review_locate, name="locate"),
    path("review/<int:investigation_id>/audio/", views.review_audio, name="audio"),
    path("review/<int:investigation_id>/complete/", views.review_complete, name="complete"),
    path("review/<int:investigation_id>/decline/", views.review_decline, name="decline"),
]
