"""The retention log, read only, for platform administrators."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin_site import staff_admin_site
from apps.privacy.models import RetentionRun


@admin.register(RetentionRun, site=staff_admin_site)
class RetentionRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "trigger", "counts")
    list_filter = ("trigger",)
    readonly_fields = ("started_at", "finished_at", "trigger", "now", "cutoffs", "counts")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
