from django.contrib import admin

from apps.core.admin_site import AuditedAdminMixin, staff_admin_site
from apps.sensors import services
from apps.sensors.models import RefusedRequest, Sensor, SensorStatus


@admin.register(Sensor, site=staff_admin_site)
class SensorAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "serial_number",
        "agency",
        "coverage_area",
        "status",
        "last_heartbeat_at",
        "missed_heartbeats",
        "clock_error_us",
        "firmware",
    )
    list_filter = ("status", "agency")
    search_fields = ("serial_number",)
    readonly_fields = (
        "public_key",
        "registered_at",
        "last_heartbeat_at",
        "missed_heartbeats",
        "clock_error_us",
        "clock_synced",
        "buffer_status",
        "status",
    )
    actions = ["disable_sensors", "activate_sensors", "retire_sensors"]

    def has_add_permission(self, request) -> bool:
        return False  # sensors are registered with `manage.py register_sensor`

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # retire instead: pulses keep pointing at the sensor

    def _set_status(self, request, queryset, status: str) -> None:
        for sensor in queryset:
            services.sensor_set_status(
                sensor=sensor, status=status, actor=request.user, request=request
            )

    @admin.action(description="Disable selected sensors")
    def disable_sensors(self, request, queryset):
        self._set_status(request, queryset, SensorStatus.DISABLED)

    @admin.action(description="Activate selected sensors")
    def activate_sensors(self, request, queryset):
        self._set_status(request, queryset, SensorStatus.ACTIVE)

    @admin.action(description="Retire selected sensors")
    def retire_sensors(self, request, queryset):
        self._set_status(request, queryset, SensorStatus.RETIRED)


@admin.register(RefusedRequest, site=staff_admin_site)
class RefusedRequestAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "reason", "status_code", "key_id", "ip_address", "path")
    list_filter = ("reason", "status_code")
    search_fields = ("key_id", "ip_address")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
