"""Platform administrators see the registry and can disable a sensor (audited, then refused)."""

import pytest

from apps.audit.models import AuditEvent
from apps.sensors.models import RefusedRequest, Sensor
from tests.factories import UserFactory, login_verified
from tests.sensors.support import PULSES, batch, post_signed

pytestmark = pytest.mark.django_db


def test_admin_disables_a_sensor(client, sensor, key):
    admin = UserFactory(platform_admin=True, is_superuser=True)
    login_verified(client, admin)
    listing = client.get("/platform-admin/sensors/sensor/")
    assert listing.status_code == 200
    assert b"S-0001" in listing.content

    response = client.post(
        "/platform-admin/sensors/sensor/",
        {"action": "disable_sensors", "_selected_action": [sensor.pk]},
    )
    assert response.status_code == 302
    assert Sensor.objects.get(pk=sensor.pk).status == "disabled"
    event = AuditEvent.objects.get(action="sensor.status_changed")
    assert event.actor == admin and event.details == {"from": "active", "to": "disabled"}

    client.logout()
    refused = post_signed(client, PULSES, batch(1), key=key, serial="S-0001")
    assert refused.status_code == 403
    assert RefusedRequest.objects.get().reason == "sensor_not_active"


def test_customers_do_not_get_the_admin(client, sensor, agency):
    officer = UserFactory(agency=agency)
    client.force_login(officer)
    response = client.get("/platform-admin/sensors/sensor/")
    assert response.status_code in (302, 403)  # never the registry
    assert b"S-0001" not in response.content
