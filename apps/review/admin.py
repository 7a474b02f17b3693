"""Read-mostly admin for review records (history entries can never be changed)."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin_site import AuditedAdminMixin, staff_admin_site
from apps.review.models import IncidentHistory, ReviewClaim, ReviewDecision, SurgeMode


@admin.register(ReviewClaim, site=staff_admin_site)
class ReviewClaimAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("incident", "reviewer", "claimed_at", "last_activity_at")
    readonly_fields = ("incident", "reviewer", "claimed_at", "last_activity_at")

    def has_add_permission(self, request):
        return False

    def audit_agency(self, obj: ReviewClaim):
        return obj.incident.agency


@admin.register(ReviewDecision, site=staff_admin_site)
class ReviewDecisionAdmin(admin.ModelAdmin):
    list_display = ("incident", "decision", "not_gunfire_reason", "decided_by", "decided_at")
    list_filter = ("decision", "not_gunfire_reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IncidentHistory, site=staff_admin_site)
class IncidentHistoryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "incident", "kind", "actor_name")
    list_filter = ("kind",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SurgeMode, site=staff_admin_site)
class SurgeModeAdmin(admin.ModelAdmin):
    """Read only here: switching goes through the service so that it is audited."""

    list_display = ("coverage_area", "on", "threshold", "changed_by", "changed_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
