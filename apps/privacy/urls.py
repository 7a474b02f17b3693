from django.urls import path

from apps.privacy import views

app_name = "privacy"

urlpatterns = [
    path("audit.csv", views.audit_csv, name="audit_csv"),
]
