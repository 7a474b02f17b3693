"""Platform administration of accounts (``/platform-admin/``, platform administrators only).

Agencies manage their own users in the product (``/agency/``); this is the review
center's view across agencies: agencies, users, grants, lockouts and two-factor resets.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from apps.accounts import auth_services, two_factor
from apps.accounts.models import Agency, ApplicationGrant, LoginThrottle, User
from apps.core.admin_site import AuditedAdminMixin, staff_admin_site


@admin.register(Agency, site=staff_admin_site)
class AgencyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("system_id", "name", "time_zone", "require_two_factor_for_police")
    search_fields = ("system_id", "name")


class ApplicationGrantInline(admin.TabularInline):
    model = ApplicationGrant
    fk_name = "user"
    extra = 0
    fields = ("application", "granted_by", "granted_at")
    readonly_fields = ("granted_by", "granted_at")


@admin.register(User, site=staff_admin_site)
class UserAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("email", "full_name", "role", "agency", "is_active", "last_login")
    list_filter = ("role", "is_active", "agency")
    search_fields = ("email", "full_name")
    fields = ("email", "full_name", "role", "agency", "is_active", "last_login", "date_joined")
    readonly_fields = ("last_login", "date_joined")
    inlines = [ApplicationGrantInline]
    actions = ["unlock_log_in", "reset_two_factor_login", "send_password_reset_mail"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # accounts are deactivated, keeping the audit trail meaningful

    @admin.action(description="Lift the log-in lockout of the selected users")
    def unlock_log_in(self, request, queryset):
        for user in queryset:
            auth_services.unlock_account(user=user, actor=request.user, request=request)
        self.message_user(request, f"Unlocked {queryset.count()} account(s).")

    @admin.action(description="Reset two-factor login (lost phone) of the selected users")
    def reset_two_factor_login(self, request, queryset):
        done = 0
        for user in queryset:
            try:
                two_factor.reset_two_factor(user=user, actor=request.user, request=request)
                done += 1
            except two_factor.TwoFactorError as error:
                self.message_user(request, f"{user}: {error}", level=messages.ERROR)
        self.message_user(request, f"Two-factor login reset for {done} account(s).")

    @admin.action(description="E-mail a password reset link to the selected users")
    def send_password_reset_mail(self, request, queryset):
        users = list(queryset.filter(is_active=True))
        for user in users:
            auth_services.send_password_reset(user=user, request=request, requested_by=request.user)
        self.message_user(request, f"Sent {len(users)} password reset e-mail(s).")


@admin.register(LoginThrottle, site=staff_admin_site)
class LoginThrottleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("scope", "key", "failures", "window_started_at", "locked_until", "locked")
    list_filter = ("scope",)
    search_fields = ("key",)
    readonly_fields = ("scope", "key", "failures", "window_started_at", "locked_until")

    def has_add_permission(self, request) -> bool:
        return False

    def audit_agency(self, obj: LoginThrottle):
        """Deleting an account's counter lifts its lockout: the account's agency sees it."""
        if obj.scope != LoginThrottle.Scope.ACCOUNT:
            return None
        user = User.objects.filter(email__iexact=obj.key).select_related("agency").first()
        return user.agency if user else None

    @admin.display(boolean=True)
    def locked(self, obj: LoginThrottle) -> bool:
        return bool(obj.locked_until and obj.locked_until > timezone.now())
