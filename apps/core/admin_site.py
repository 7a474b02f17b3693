"""The Django admin, for platform administrators only and only after two-factor login.

Customers (police users, agency super users) never get admin access: they manage
their agency through the product's own pages.
"""

from django.forms.models import _get_foreign_key, model_to_dict
from django_otp.admin import OTPAdminSite

from apps.audit.services import record_event


class StaffAdminSite(OTPAdminSite):
    site_header = "ShotSpotter Open — platform administration"
    site_title = "Platform administration"

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(
            user.is_active
            and getattr(user, "role", None) == "platform_admin"
            and user.is_verified()
        )


staff_admin_site = StaffAdminSite(name="platform_admin")


SECRET_FIELDS = frozenset({"password", "bin_key", "token", "secret"})


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class AuditedAdminMixin:
    """Every add, change and delete made in the platform admin lands in the append-only
    audit trail (``apps.audit``), under the agency it concerns, with the changed fields
    before and after.

    Django's own admin history (``LogEntry``) is neither append-only nor shown to the
    agency; without this a platform administrator could change an agency user's role,
    applications or active flag, an agency's two-factor rule or a sensor's position
    without any trace in the agency's audit log. Actions are recorded as
    ``platform_admin.<model>.create`` / ``.change`` / ``.delete``; inline rows (a user's
    application grants) are part of their parent's event.
    """

    def audit_agency(self, obj):
        """The agency whose audit log shows the event (``None``: platform only)."""
        if obj._meta.label_lower == "accounts.agency":
            return obj
        return getattr(obj, "agency", None)

    def _inline_rows(self, obj) -> dict[str, list[str]]:
        rows = {}
        for inline in self.inlines:
            fk = _get_foreign_key(type(obj), inline.model, fk_name=inline.fk_name)
            children = inline.model._default_manager.filter(**{fk.name: obj})
            rows[str(inline.model._meta.verbose_name_plural)] = sorted(map(str, children))
        return rows

    def save_model(self, request, obj, form, change):
        # Never a password hash in the audit trail, even if a form lists it as changed.
        fields = [
            name for name in form.changed_data if name in form.fields and name not in SECRET_FIELDS
        ]
        stored = type(obj)._default_manager.filter(pk=obj.pk).first() if change else None
        before = {name: _jsonable(getattr(stored, name, None)) for name in fields}
        super().save_model(request, obj, form, change)
        request._platform_admin_audit = {
            "verb": "change" if change else "create",
            "changed": {
                name: {"before": before[name], "after": _jsonable(getattr(obj, name, None))}
                for name in fields
            },
            "inlines_before": self._inline_rows(stored) if stored is not None else {},
        }

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        pending = request.__dict__.pop("_platform_admin_audit", None)
        if pending is None:
            return
        obj = form.instance
        changed = pending["changed"]
        for name, rows in self._inline_rows(obj).items():
            old = pending["inlines_before"].get(name, [])
            if rows != old:
                changed[name] = {"before": old, "after": rows}
        if pending["verb"] == "change" and not changed:
            return  # saved without a change
        record_event(
            action=f"platform_admin.{obj._meta.model_name}.{pending['verb']}",
            actor=request.user,
            agency=self.audit_agency(obj),
            target=obj,
            request=request,
            details={"changed": changed},
        )

    def delete_model(self, request, obj):
        self._record_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._record_delete(request, obj)
        super().delete_queryset(request, queryset)

    def _record_delete(self, request, obj) -> None:
        agency = self.audit_agency(obj)
        record_event(
            action=f"platform_admin.{obj._meta.model_name}.delete",
            actor=request.user,
            # An agency's own deletion cannot point at the row being deleted.
            agency=None if agency is obj else agency,
            target=obj,
            request=request,
            details={"before": _jsonable(model_to_dict(obj, exclude=list(SECRET_FIELDS)))},
        )
