"""Reads for agency user management, always scoped to one agency."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.accounts.models import AGENCY_ROLES, Agency, ApplicationGrant, User


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
