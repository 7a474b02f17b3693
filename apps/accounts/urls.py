from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    # Forgot password (no session needed)
    path("password/reset/", views.password_reset_request, name="password_reset"),
    path("password/reset/sent/", views.password_reset_sent, name="password_reset_sent"),
    path(
        "reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", views.password_reset_complete, name="password_reset_complete"),
    # Log-in step 2 and enrolment
    path("two-factor/", views.two_factor_verify, name="two_factor_verify"),
    path("two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    # My Account (needs a fully verified session)
    path("my-account/", views.my_account, name="my_account"),
    path("my-account/password/", views.password_change, name="password_change"),
    path("my-account/backup-codes/", views.backup_codes, name="backup_codes"),
    path(
        "my-account/backup-codes/regenerate/",
        views.regenerate_backup_codes,
        name="regenerate_backup_codes",
    ),
    path(
        "my-account/devices/<int:device_id>/remove/",
        views.remove_device,
        name="remove_device",
    ),
]
