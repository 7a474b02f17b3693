"""Agency administration for agency super users: /agency/users/... and /agency/audit/."""

from django.urls import path

from apps.accounts import management_views as views

app_name = "agency_admin"

urlpatterns = [
    path("", views.index, name="index"),
    path("users/", views.user_list, name="users"),
    path("users/add/", views.user_add, name="user_add"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    path("users/<int:pk>/applications/", views.user_applications, name="user_applications"),
    path("users/<int:pk>/deactivate/", views.user_deactivate, name="user_deactivate"),
    path("users/<int:pk>/reactivate/", views.user_reactivate, name="user_reactivate"),
    path("users/<int:pk>/password-reset/", views.user_password_reset, name="user_password_reset"),
    path("users/<int:pk>/delete/", views.user_delete, name="user_delete"),
    path("audit/", views.audit_log, name="audit"),
]
