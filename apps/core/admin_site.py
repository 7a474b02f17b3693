"""The Django admin, for platform administrators only and only after two-factor login.

Customers (police users, agency super users) never get admin access: they manage
their agency through the product's own pages.
"""

from django_otp.admin import OTPAdminSite


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
