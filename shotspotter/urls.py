from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from apps.core.admin_site import staff_admin_site

urlpatterns = [
    # Before core: the portal serves /console/, /investigator/, /siren/ and /incident/...
    path("", include("apps.portal.urls")),
    # Before core: the Briefing Room app serves /briefing-room/ (core only names it).
    path("briefing-room/", include("apps.briefing.urls")),
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("agency/", include("apps.accounts.management_urls")),
    path("alerts/", include("apps.alerts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/sensor/", include("apps.sensors.urls")),
    path("api/v1/incidents/", include("apps.integrations.urls")),
    path("platform-admin/", staff_admin_site.urls),
    path("privacy/", include("apps.privacy.urls")),
    path("review/", include("apps.review.urls")),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
