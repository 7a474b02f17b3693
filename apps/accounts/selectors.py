"""Reads for agency user management, always scoped to one agency."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from apps.accounts.models import AGENCY_ROLES, Agency, ApplicationGrant, LoginThrottle, User


def agency_users(*, agency: Agency) -> QuerySet[User]:
    """The police users and agency super users of ``agency``, with their grants."""
    return (
        User.objects.filter(agency=agency, role__in=[r.value for r in AGENCY_ROLES])
        .prefetch_related(
            Prefetch(
                "application_grants",
                queryset=ApplicationGrant.objects.order_by("application"),
            )
        )
        .order_by("email")
    )


def granted_applications(*, user: User) -> list[str]:
    return sorted(grant.application for grant in user.application_grants.all())


def lockouts_until(*, users: list[User]) -> dict[int, dt.datetime]:
    """User id -> end of the log-in lockout in force on their address (absent: none).

    Only the account's own lock: a lock on a client address is not the account's doing.
    """
    by_email = {user.email.lower(): user.pk for user in users}
    rows = LoginThrottle.objects.filter(
        scope=LoginThrottle.Scope.ACCOUNT, key__in=by_email, locked_until__gt=timezone.now()
    ).values_list("key", "locked_until")
    return {by_email[key]: until for key, until in rows}
