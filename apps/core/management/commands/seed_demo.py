"""Load the demo agency, its city and one user of each role (``make run`` calls this).

Idempotent: what exists already is left alone, so running it twice changes nothing.
Refuses to run unless DEBUG is on (or ``--force``), so production never gets demo
accounts with a published password and published two-factor keys.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import Agency, Application, ApplicationGrant, Role, User
from apps.audit.services import record_event
from apps.geo.models import AddressPoint, Beat, CoverageArea, District
from apps.geo.polygons import validate_geometry

DEMO_CITY_FILE = Path(settings.BASE_DIR) / "fixtures" / "demo_city.json"
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - published on purpose, demo only
TOTP_DEVICE_NAME = "Demo authenticator"


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    role: str
    applications: tuple[str, ...]
    # Fixed, published TOTP secret (base32) for roles that need two-factor login.
    totp_base32: str = ""


ALL_APPLICATIONS = tuple(a.value for a in Application)

# The TOTP secrets are base32 of 20 readable bytes, e.g. b"riverside-demo-chief".
DEMO_USERS = (
    DemoUser(
        email="officer@riverside-pd.example",
        full_name="Pat Officer",
        role=Role.POLICE_USER,
        applications=ALL_APPLICATIONS,
    ),
    DemoUser(
        email="chief@riverside-pd.example",
        full_name="Casey Chief",
        role=Role.AGENCY_SUPER_USER,
        applications=ALL_APPLICATIONS,
        totp_base32="OJUXMZLSONUWIZJNMRSW23ZNMNUGSZLG",
    ),
    DemoUser(
        email="reviewer@irc.example",
        full_name="Robin Reviewer",
        role=Role.IRC_REVIEWER,
        applications=(),
        totp_base32="OJUXMZLSONUWIZJNMRSW23ZNNFZGGLJR",
    ),
    DemoUser(
        email="admin@irc.example",
        full_name="Alex Admin",
        role=Role.PLATFORM_ADMIN,
        applications=(),
        totp_base32="OJUXMZLSONUWIZJNMRSW23ZNMFSG22LO",
    ),
)


def load_demo_city(path: Path = DEMO_CITY_FILE) -> dict:
    with path.open(encoding="utf-8") as handle:
        city = json.load(handle)
    for item in city["coverage_areas"] + city["districts"] + city["beats"]:
        validate_geometry(item["boundary"])
    return city


class Command(BaseCommand):
    help = "Create the demo agency, city (coverage area, districts, beats, addresses) and users."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off. Never on a production system: the demo "
            "password and two-factor keys are public.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates accounts with a published password, so it only runs "
                "with DEBUG=1. Use --force for a throw-away system."
            )
        city = load_demo_city()
        with transaction.atomic():
            agency, created_agency = seed_agency(city=city)
            created = {
                "agency": int(created_agency),
                **seed_geography(agency=agency, city=city),
                **seed_users(agency=agency),
            }
            if any(created.values()):
                record_event(
                    action="demo.seeded",
                    agency=agency,
                    target=agency,
                    details={"created": created},
                )
        summary = ", ".join(f"{what}: {count}" for what, count in created.items() if count)
        outcome = f"created {summary}." if summary else "already in place."
        self.stdout.write(f"Demo data for {agency}: {outcome}")
        self.print_logins(agency=agency)

    def print_logins(self, *, agency: Agency) -> None:
        write = self.stdout.write
        write("")
        write(f"Agency: {agency.name}, system id {agency.system_id}, {agency.time_zone}.")
        write(
            "Agency super users, IRC reviewers and platform administrators need a second\n"
            "factor: add their key to an authenticator app (these otpauth URIs, as text or\n"
            "QR code) or compute the current code with `oathtool --totp -b KEY`."
        )
        for demo in DEMO_USERS:
            if demo.totp_base32:
                write(f"  {otpauth_uri(demo)}")
        write("")
        write(self.style.SUCCESS("Demo logins"))
        write(f"  URL:      {settings.SITE_URL}/accounts/login/")
        write(f"  Password: {DEMO_PASSWORD} (all demo users)")
        for demo in DEMO_USERS:
            key = f"two-factor key {demo.totp_base32}" if demo.totp_base32 else "no second factor"
            write(f"  {Role(demo.role).label:<23} {demo.email:<30} {key}")
        write("")


def otpauth_uri(demo: DemoUser) -> str:
    issuer = quote(settings.OTP_TOTP_ISSUER)
    return (
        f"otpauth://totp/{issuer}:{quote(demo.email)}"
        f"?secret={demo.totp_base32}&issuer={issuer}&digits=6&period=30"
    )


def seed_agency(*, city: dict) -> tuple[Agency, bool]:
    data = city["agency"]
    return Agency.objects.get_or_create(
        system_id=data["system_id"],
        defaults={"name": data["name"], "time_zone": data["time_zone"]},
    )


def seed_geography(*, agency: Agency, city: dict) -> dict[str, int]:
    created = {"coverage areas": 0, "districts": 0, "beats": 0, "address points": 0}
    for area in city["coverage_areas"]:
        _, new = CoverageArea.objects.get_or_create(
            agency=agency, name=area["name"], defaults={"boundary": area["boundary"]}
        )
        created["coverage areas"] += new
    districts = {}
    for item in city["districts"]:
        district, new = District.objects.get_or_create(
            agency=agency, name=item["name"], defaults={"boundary": item["boundary"]}
        )
        districts[district.name] = district
        created["districts"] += new
    for item in city["beats"]:
        _, new = Beat.objects.get_or_create(
            agency=agency,
            name=item["name"],
            defaults={"boundary": item["boundary"], "district": districts[item["district"]]},
        )
        created["beats"] += new
    existing = set(
        AddressPoint.objects.filter(agency=agency).values_list("label", "latitude", "longitude")
    )
    missing = [
        AddressPoint(agency=agency, label=a["label"], latitude=a["lat"], longitude=a["lon"])
        for a in city["addresses"]
        if (a["label"], a["lat"], a["lon"]) not in existing
    ]
    AddressPoint.objects.bulk_create(missing)
    created["address points"] = len(missing)
    return created


def seed_users(*, agency: Agency) -> dict[str, int]:
    created = {"users": 0, "application grants": 0, "two-factor devices": 0}
    for demo in DEMO_USERS:
        user = User.objects.filter(email__iexact=demo.email).first()
        if user is None:
            user = User(
                email=demo.email,
                full_name=demo.full_name,
                role=demo.role,
                agency=agency if demo.role in (Role.POLICE_USER, Role.AGENCY_SUPER_USER) else None,
                is_superuser=demo.role == Role.PLATFORM_ADMIN,
            )
            user.set_password(DEMO_PASSWORD)
            user.full_clean(exclude=["password"])
            user.save()
            created["users"] += 1
        for application in demo.applications:
            _, new = ApplicationGrant.objects.get_or_create(user=user, application=application)
            created["application grants"] += new
        if demo.totp_base32:
            key_hex = base64.b32decode(demo.totp_base32).hex()
            _, new = TOTPDevice.objects.get_or_create(
                user=user,
                name=TOTP_DEVICE_NAME,
                defaults={"key": key_hex, "confirmed": True},
            )
            created["two-factor devices"] += new
    return created
