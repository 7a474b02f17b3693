"""factory_boy factories and log-in helpers shared by every test package.

    agency = AgencyFactory()
    officer = UserFactory(agency=agency, applications=[Application.ALERT_CONSOLE])
    boss = UserFactory(super_user=True, agency=agency)        # or role=Role.AGENCY_SUPER_USER
    reviewer = UserFactory(irc_reviewer=True)                  # no agency
    admin = UserFactory(platform_admin=True, two_factor=True)  # confirmed TOTP device

    login_verified(client, admin)   # logged in AND past two-factor (session verified)
    client.force_login(officer)     # plain log-in for users that need no second factor

Every user has the password ``DEFAULT_PASSWORD`` unless ``password=`` is given.
"""

from __future__ import annotations

import factory
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from factory.django import DjangoModelFactory

from apps.accounts.models import AGENCY_ROLES, Agency, ApplicationGrant, Role, User

DEFAULT_PASSWORD = "Sturdy-Lantern-Harbor-91"


class AgencyFactory(DjangoModelFactory):
    class Meta:
        model = Agency
        django_get_or_create = ("system_id",)

    # Three digits, 100..999, cycling; unique within any sane test.
    system_id = factory.Sequence(lambda n: f"{100 + n % 900}")
    name = factory.Sequence(lambda n: f"Riverton Police Department {n}")
    time_zone = "America/Chicago"
    require_two_factor_for_police = False


class UserFactory(DjangoModelFactory):
    """A user of any role; agency roles get an agency, staff roles get none."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        belongs_to_agency = factory.LazyAttribute(lambda o: o.role in AGENCY_ROLES)
        super_user = factory.Trait(role=Role.AGENCY_SUPER_USER)
        irc_reviewer = factory.Trait(role=Role.IRC_REVIEWER)
        platform_admin = factory.Trait(role=Role.PLATFORM_ADMIN)

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    full_name = factory.Faker("name")
    role = Role.POLICE_USER
    agency = factory.Maybe("belongs_to_agency", factory.SubFactory(AgencyFactory), None)
    is_active = True

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs) -> None:
        self.set_password(extracted if extracted is not None else DEFAULT_PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def applications(self, create: bool, extracted, **kwargs) -> None:
        """``applications=[Application.SIREN, ...]`` creates the grants."""
        if not create or not extracted:
            return
        for application in extracted:
            ApplicationGrant.objects.get_or_create(user=self, application=application)

    @factory.post_generation
    def two_factor(self, create: bool, extracted: bool | None, **kwargs) -> None:
        """``two_factor=True`` gives the user a confirmed TOTP device."""
        if create and extracted:
            add_totp_device(self)


def add_totp_device(user: User, *, name: str = "Phone", confirmed: bool = True) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name=name, confirmed=confirmed)


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or ``steps_ahead`` 30-second steps later).

    A code is accepted once per time step, so a test verifying twice uses
    ``steps_ahead=1`` the second time (the device tolerates one step of clock skew).
    """
    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=steps_ahead
    )
    return f"{code:0{device.digits}d}"


def add_backup_codes(user: User, *, count: int = 10) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name="Backup codes", defaults={"confirmed": True}
    )
    codes = [StaticToken.random_token() for _ in range(count)]
    for code in codes:
        device.token_set.create(token=code)
    return codes


def login_verified(client: Client, user: User) -> TOTPDevice:
    """Log ``client`` in as ``user`` with the session marked as two-factor verified.

    Creates a confirmed TOTP device when the user has none. Returns the device.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or add_totp_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def login_as(client: Client, user: User) -> None:
    """Log in the way the application would let this user through.

    Users who need two-factor login are logged in verified; others plainly.
    """
    if user.requires_two_factor:
        login_verified(client, user)
    else:
        client.force_login(user)
