from django.urls import path

from apps.alerts import views

app_name = "alerts"

urlpatterns = [
    path("preferences/", views.preferences, name="preferences"),
    # Agency super users
    path("agency/deliveries/", views.deliveries, name="deliveries"),
    path("agency/deliveries/<int:pk>/reset/", views.destination_reset, name="destination_reset"),
    path("agency/webhooks/", views.webhook_list, name="webhooks"),
    path("agency/webhooks/add/", views.webhook_add, name="webhook_add"),
    path("agency/webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("agency/webhooks/<int:pk>/rotate/", views.webhook_rotate, name="webhook_rotate"),
    path("agency/webhooks/<int:pk>/test/", views.webhook_test, name="webhook_test"),
    path("agency/webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    # CAP 1.2 (session log-in with Siren access)
    path("cap/<str:system_id>.xml", views.cap_feed, name="cap_feed"),
    path(
        "cap/<str:system_id>/<int:number>/<int:sequence>.xml",
        views.cap_message,
        name="cap_message",
    ),
    # Incident report (Investigator Portal users of the agency; review-center staff)
    path("report/<str:system_id>/<int:number>/", views.report_page, name="report"),
    path("report/<str:system_id>/<int:number>.pdf", views.report_pdf, name="report_pdf"),
]
