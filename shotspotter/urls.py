from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from apps.core.admin_site import staff_admin_site

urlpatterns = [
    # The portal serves /console/, /investigator/, /siren/ and /incident/...
    path("", include("apps.portal.urls")),
    path("briefing-room/", include("apps.briefing.urls")),
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("agency/", include("apps.accounts.management_urls")),
    path("alerts/", include("apps.alerts.urls")),
    path("investigations/", include("apps.investigations.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/sensor/", include("apps.sensors.urls")),
    path("api/v1/incidents/", include("apps.integrations.urls")),
    path("evidence/", include("apps.evidence.urls")),
    path("platform-admin/", staff_admin_site.urls),
    path("privacy/", include("apps.privacy.urls")),
    path("review/", include("apps.review.urls")),
    # The polling fallback of the websocket streams (apps.realtime.routing).
    path("live/", include("apps.realtime.urls")),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
