"""seed_demo: the demo agency, city and users; idempotent; never on production by accident."""

from __future__ import annotations

import base64
import importlib.util
import io

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import Agency, Application, ApplicationGrant, Role, User
from apps.audit.models import AuditEvent
from apps.core.management.commands.seed_demo import (
    DEMO_CITY_FILE,
    DEMO_PASSWORD,
    DEMO_USERS,
    load_demo_city,
)
from apps.geo.models import AddressPoint, Beat, CoverageArea, District
from apps.geo.polygons import geometry_contains
from apps.geo.selectors import locate_beat_and_district, nearest_address

pytestmark = pytest.mark.django_db


def seed(**options) -> str:
    out = io.StringIO()
    call_command("seed_demo", force=True, stdout=out, **options)
    return out.getvalue()


def snapshot() -> dict:
    """Everything seed_demo writes, as comparable values."""
    return {
        "agencies": list(Agency.objects.values_list("pk", "system_id", "name", "time_zone")),
        "users": list(
            User.objects.order_by("pk").values_list("pk", "email", "password", "role", "agency")
        ),
        "grants": list(
            ApplicationGrant.objects.order_by("pk").values_list("pk", "user", "application")
        ),
        "devices": list(TOTPDevice.objects.order_by("pk").values_list("pk", "user", "key")),
        "areas": list(CoverageArea.objects.values_list("pk", "name", "boundary")),
        "districts": list(District.objects.values_list("pk", "name", "boundary")),
        "beats": list(Beat.objects.values_list("pk", "name", "district", "boundary")),
        "addresses": list(
            AddressPoint.objects.order_by("pk").values_list("pk", "label", "latitude", "longitude")
        ),
        "audit": list(AuditEvent.objects.values_list("pk", "action")),
    }


def test_refuses_without_debug_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not Agency.objects.exists()
    assert not User.objects.exists()


def test_runs_with_debug_on(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    assert Agency.objects.filter(system_id="42").exists()


def test_creates_the_demo_city_and_users():
    output = seed()
    agency = Agency.objects.get(system_id="42")
    assert agency.name == "Riverside Police Department"
    assert agency.time_zone == "America/Chicago"
    assert CoverageArea.objects.filter(agency=agency).count() == 1
    assert District.objects.filter(agency=agency).count() == 3
    assert Beat.objects.filter(agency=agency).count() == 9
    assert Beat.objects.filter(agency=agency, district__isnull=True).count() == 0
    assert 200 <= AddressPoint.objects.filter(agency=agency).count() <= 600
    assert AddressPoint.objects.filter(label="100 block of W Main St").exists()

    roles = {user.role: user for user in User.objects.all()}
    assert set(roles) == {r.value for r in Role}
    for user in roles.values():
        assert user.check_password(DEMO_PASSWORD)
        assert user.is_active
    police, boss = roles[Role.POLICE_USER], roles[Role.AGENCY_SUPER_USER]
    for user in (police, boss):
        assert user.agency == agency
        assert all(user.has_application(a) for a in Application)
    assert roles[Role.IRC_REVIEWER].agency is None
    assert roles[Role.PLATFORM_ADMIN].is_staff

    # Each user who needs a second factor has a confirmed device with the printed key,
    # and a code computed from that key (what oathtool prints) is accepted.
    for demo in DEMO_USERS:
        user = User.objects.get(email=demo.email)
        devices = TOTPDevice.objects.filter(user=user, confirmed=True)
        if not user.requires_two_factor:
            assert not devices.exists()
            continue
        assert demo.totp_base32 in output
        device = devices.get()
        assert device.bin_key == base64.b32decode(demo.totp_base32)
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        assert device.verify_token(f"{code:06d}")

    assert "Demo logins" in output
    assert output.rstrip().splitlines()[-1].strip().startswith("Platform administrator")
    assert DEMO_PASSWORD in output
    for demo in DEMO_USERS:
        assert demo.email in output
    assert AuditEvent.objects.filter(action="demo.seeded", agency=agency).count() == 1


def test_running_twice_changes_nothing():
    seed()
    before = snapshot()
    output = seed()
    assert snapshot() == before
    assert "already in place" in output
    assert "Demo logins" in output


def test_running_again_keeps_what_users_changed():
    seed()
    boss = User.objects.get(role=Role.AGENCY_SUPER_USER)
    boss.set_password("a-new-secret-of-my-own")
    boss.save()
    seed()
    boss.refresh_from_db()
    assert boss.check_password("a-new-secret-of-my-own")


def test_every_address_point_falls_in_its_beat():
    seed()
    agency = Agency.objects.get(system_id="42")
    area = CoverageArea.objects.get(agency=agency)
    city = load_demo_city()
    assert len(city["addresses"]) == AddressPoint.objects.filter(agency=agency).count()
    for address in city["addresses"]:
        where = locate_beat_and_district(agency=agency, lat=address["lat"], lon=address["lon"])
        assert where.beat is not None and where.beat.name == address["beat"], address
        assert where.district == where.beat.district
        assert where.coverage_area == area
        # The beat's district polygon contains the point too.
        assert geometry_contains(
            geometry=where.district.boundary, lon=address["lon"], lat=address["lat"]
        )
        found = nearest_address(agency=agency, lat=address["lat"], lon=address["lon"])
        assert found.address.label == address["label"]
        assert found.distance_m < 0.01


def test_beats_tile_the_coverage_area():
    """Every point of the coverage area lies in exactly one beat (edges aside)."""
    seed()
    agency = Agency.objects.get(system_id="42")
    area = CoverageArea.objects.get(agency=agency)
    beats = list(Beat.objects.filter(agency=agency))
    (ring,) = area.boundary["coordinates"]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    steps = 37  # not a multiple of 3, so no sample lands on a beat edge
    for i in range(steps):
        for j in range(steps):
            lon = min(lons) + (max(lons) - min(lons)) * (i + 0.5) / steps
            lat = min(lats) + (max(lats) - min(lats)) * (j + 0.5) / steps
            assert geometry_contains(geometry=area.boundary, lon=lon, lat=lat)
            inside = [
                b.name for b in beats if geometry_contains(geometry=b.boundary, lon=lon, lat=lat)
            ]
            assert len(inside) == 1, (lon, lat, inside)
    # And just outside the area there is no beat.
    outside = (min(lons) - 0.001, min(lats) + 0.01)
    assert locate_beat_and_district(agency=agency, lon=outside[0], lat=outside[1]).beat is None


def test_committed_json_matches_its_generator():
    spec = importlib.util.spec_from_file_location(
        "make_demo_city", settings.BASE_DIR / "fixtures" / "make_demo_city.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert DEMO_CITY_FILE.read_text(encoding="utf-8") == module.render()


def test_demo_chief_logs_in_with_password_and_printed_key_and_manages_users(client):
    """The printed logins work end to end: password, TOTP code from the key, agency pages."""
    seed()
    chief = next(d for d in DEMO_USERS if d.role == Role.AGENCY_SUPER_USER)
    response = client.post(
        "/accounts/login/",
        {"email": chief.email, "password": DEMO_PASSWORD, "next": "/agency/users/"},
    )
    assert response.status_code == 302
    assert "/accounts/two-factor/" in response["Location"]
    # Before the second factor the agency pages stay shut.
    assert client.get("/agency/users/").status_code == 302

    key = base64.b32decode(chief.totp_base32)
    code = f"{totp(key, step=30, t0=0, digits=6):06d}"
    response = client.post(response["Location"], {"code": code})
    assert response.status_code == 302
    assert response["Location"] == "/agency/users/"
    page = client.get("/agency/users/")
    assert page.status_code == 200
    assert "officer@riverside-pd.example" in page.content.decode()
    assert "reviewer@irc.example" not in page.content.decode()
