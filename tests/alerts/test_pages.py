"""Alert preferences (Siren users) and the e-mail delivery page (agency super users)."""

from __future__ import annotations

import pytest

from apps.accounts.models import Application
from apps.alerts.models import AlertSubscription, DestinationStatus, EmailDestination
from apps.audit.models import AuditEvent
from tests.alerts.support import agency_with_geography, published_incident, siren_user
from tests.factories import UserFactory, login_verified

pytestmark = pytest.mark.django_db


def test_preferences_are_saved_and_shown(client):
    agency, area, districts, beats = agency_with_geography()
    user = siren_user(agency=agency, email="officer@example.org")
    client.force_login(user)
    page = client.get("/alerts/preferences/")
    assert page.status_code == 200 and "America/Chicago" in page.content.decode()
    reply = client.post(
        "/alerts/preferences/",
        {
            "enabled": "on",
            "beats": [beats["11"].pk],
            "districts": [districts["2"].pk],
            "time_windows": "22:00-06:00, 12:00-13:30",
            "incident_types": ["multiple_gunshots"],
        },
    )
    assert reply.status_code == 302
    sub = AlertSubscription.objects.get(user=user)
    assert sub.enabled and not sub.send_updates
    assert sub.time_windows == [["22:00", "06:00"], ["12:00", "13:30"]]
    assert list(sub.beats.all()) == [beats["11"]] and list(sub.districts.all()) == [districts["2"]]
    assert sub.incident_types == ["multiple_gunshots"]
    assert "22:00-06:00, 12:00-13:30" in client.get("/alerts/preferences/").content.decode()


@pytest.mark.parametrize(
    "windows,message",
    [
        ("22:00", "HH:MM-HH:MM"),
        ("25:00-06:00", "not a time of day"),
        ("ten-six", "is not a time"),
        ("06:00-06:00", "same time"),
        ("24:00-06:00", "ends a day"),
        ("22:00-24:01", "not a time of day"),
    ],
)
def test_bad_time_windows_are_refused_and_nothing_is_saved(client, windows, message):
    agency, *_ = agency_with_geography()
    user = siren_user(agency=agency, email="officer@example.org")
    client.force_login(user)
    reply = client.post("/alerts/preferences/", {"enabled": "on", "time_windows": windows})
    assert reply.status_code == 400
    assert message in str(reply.context["form"].errors["time_windows"])
    assert not AlertSubscription.objects.exists()


def test_another_agencys_beat_is_refused(client):
    agency, *_ = agency_with_geography()
    other, _, _, other_beats = agency_with_geography(system_id="418")
    user = siren_user(agency=agency, email="officer@example.org")
    client.force_login(user)
    reply = client.post("/alerts/preferences/", {"enabled": "on", "beats": [other_beats["11"].pk]})
    assert reply.status_code == 400 and not AlertSubscription.objects.exists()


def test_preferences_need_siren_and_my_account_links_them(client):
    agency, *_ = agency_with_geography()
    console = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    client.force_login(console)
    assert client.get("/alerts/preferences/").status_code == 403
    assert "/alerts/preferences/" not in client.get("/accounts/my-account/").content.decode()
    client.force_login(siren_user(agency=agency, email="s@example.org"))
    assert "/alerts/preferences/" in client.get("/accounts/my-account/").content.decode()


def test_super_user_sees_failed_addresses_and_resets_them(client, smtp_server, publish):
    agency, area, districts, beats = agency_with_geography()
    boss = UserFactory(super_user=True, agency=agency)
    siren_user(agency=agency, email="gone@example.org")
    smtp_server.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    publish(published_incident(area=area, beat=beats["11"]))
    destination = EmailDestination.objects.get(address="gone@example.org")
    assert destination.status == DestinationStatus.PERMANENTLY_FAILED

    login_verified(client, boss)
    page = client.get("/alerts/agency/deliveries/").content.decode()
    assert "gone@example.org" in page and "Permanently failed" in page and "No such user" in page
    assert (
        "gone@example.org"
        in client.get("/alerts/agency/deliveries/?status=failed").content.decode()
    )

    other, *_ = agency_with_geography(system_id="418")
    other_boss = UserFactory(super_user=True, agency=other)
    login_verified(client, other_boss)
    assert "gone@example.org" not in client.get("/alerts/agency/deliveries/").content.decode()
    assert client.post(f"/alerts/agency/deliveries/{destination.pk}/reset/").status_code == 404

    login_verified(client, boss)
    assert client.post(f"/alerts/agency/deliveries/{destination.pk}/reset/").status_code == 302
    destination.refresh_from_db()
    assert destination.status == DestinationStatus.OK and destination.last_error == ""
    assert AuditEvent.objects.filter(action="alerts.destination_reset", agency=agency).exists()

    client.force_login(UserFactory(agency=agency, applications=[Application.SIREN]))
    assert client.get("/alerts/agency/deliveries/").status_code == 403


def test_a_window_may_end_at_24_00(client):
    """ "22:00-24:00" was refused: "'24:00' is not a time of day"."""
    agency, *_ = agency_with_geography()
    user = siren_user(agency=agency, email="officer@example.org")
    client.force_login(user)
    reply = client.post(
        "/alerts/preferences/", {"enabled": "on", "time_windows": "22:00-24:00, 00:00-01:00"}
    )
    assert reply.status_code == 302, reply.context and reply.context["form"].errors
    sub = AlertSubscription.objects.get(user=user)
    assert sub.time_windows == [["22:00", "24:00"], ["00:00", "01:00"]]
    assert "22:00-24:00, 00:00-01:00" in client.get("/alerts/preferences/").content.decode()
