"""Agencies, users, roles and per-application access grants.

The username is the e-mail address. A user's role fixes what kind of account it is;
what it may open is granted per application (Alert Console, Investigator Portal,
Briefing Room, Siren), so an agency decides who uses which tool.
"""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone.")


class Agency(models.Model):
    system_id = models.CharField(
        max_length=3,
        unique=True,
        validators=[RegexValidator(r"^\d{2,3}$", "A system id is two or three digits.")],
        help_text="Two or three digits; appears in every incident link.",
    )
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    require_two_factor_for_police = models.BooleanField(
        default=False, help_text="Police users of this agency must also use two-factor login."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ["system_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.system_id})"


class Role(models.TextChoices):
    POLICE_USER = "police_user", "Police user"
    AGENCY_SUPER_USER = "agency_super_user", "Agency super user"
    IRC_REVIEWER = "irc_reviewer", "IRC reviewer"
    PLATFORM_ADMIN = "platform_admin", "Platform administrator"


AGENCY_ROLES = (Role.POLICE_USER, Role.AGENCY_SUPER_USER)
STAFF_ROLES = (Role.IRC_REVIEWER, Role.PLATFORM_ADMIN)


class Application(models.TextChoices):
    ALERT_CONSOLE = "alert_console", "Alert Console"
    INVESTIGATOR_PORTAL = "investigator_portal", "Investigator Portal"
    BRIEFING_ROOM = "briefing_room", "Briefing Room"
    SIREN = "siren", "Siren"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("Users need an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("role", Role.PLATFORM_ADMIN)
        fields["is_superuser"] = True
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("e-mail address", unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.POLICE_USER)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            # Agency accounts belong to an agency; review-center staff belong to none.
            models.CheckConstraint(
                name="user_agency_matches_role",
                condition=(
                    Q(role__in=[r.value for r in AGENCY_ROLES], agency__isnull=False)
                    | Q(role__in=[r.value for r in STAFF_ROLES], agency__isnull=True)
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = (self.email or "").strip().lower()
        if self.role in AGENCY_ROLES and self.agency_id is None:
            raise ValidationError({"agency": "Police users and agency super users need an agency."})
        if self.role in STAFF_ROLES and self.agency_id is not None:
            raise ValidationError({"agency": "Review-center staff do not belong to an agency."})

    # Derived from the role rather than stored, so the two can never disagree.
    @property
    def is_staff(self) -> bool:
        return self.role == Role.PLATFORM_ADMIN

    @property
    def is_irc_reviewer(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_agency_super_user(self) -> bool:
        return self.role == Role.AGENCY_SUPER_USER

    @property
    def requires_two_factor(self) -> bool:
        if self.role in (Role.IRC_REVIEWER, Role.PLATFORM_ADMIN, Role.AGENCY_SUPER_USER):
            return True
        return bool(self.agency and self.agency.require_two_factor_for_police)

    # Django permissions follow the role too: platform administrators may do everything
    # in the platform admin; every other role has no Django permission at all (the
    # product checks roles and application grants), whatever ``is_superuser`` says.
    def has_perm(self, perm: str, obj=None) -> bool:
        return bool(self.is_active and self.role == Role.PLATFORM_ADMIN)

    def has_module_perms(self, app_label: str) -> bool:
        return bool(self.is_active and self.role == Role.PLATFORM_ADMIN)

    def has_application(self, application: str) -> bool:
        if not self.is_active:
            return False
        return self.application_grants.filter(application=application).exists()


class ApplicationGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="application_grants")
    application = models.CharField(max_length=32, choices=Application.choices)
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "application"], name="one_grant_per_application"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} -> {self.get_application_display()}"


class LoginThrottle(models.Model):
    """Failed log-in attempts per account (normalised e-mail) or per client IP, and
    password reset e-mails sent per address (so nobody can flood a mailbox).

    Kept in the database so every web process sees the same counts. Rows exist for
    e-mail addresses without an account too, so a lockout reveals nothing about
    which addresses are registered.
    """

    class Scope(models.TextChoices):
        ACCOUNT = "account", "Account"
        IP = "ip", "Client IP address"
        RESET_MAIL = "reset_mail", "Password reset e-mails to an address"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    key = models.CharField(max_length=254)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="one_throttle_per_scope_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} ({self.failures} failures)"
