from __future__ import annotations

from apps.accounts.models import Application
from apps.realtime.models import Audience, RealtimeEvent

# A reconnecting client gets at most this many missed events; beyond that it reloads.
CATCH_UP_LIMIT = 500


def events_after(*, audience: str, agency_id: int | None, after_id: int) -> list[RealtimeEvent]:
    """Events of one stream with an id above ``after_id``, oldest first."""
    events = RealtimeEvent.objects.filter(audience=audience, id__gt=after_id)
    if audience == Audience.AGENCY:
        events = events.filter(agency_id=agency_id)
    return list(events.order_by("id")[:CATCH_UP_LIMIT])


def latest_event_id(*, audience: str, agency_id: int | None) -> int:
    events = RealtimeEvent.objects.filter(audience=audience)
    if audience == Audience.AGENCY:
        events = events.filter(agency_id=agency_id)
    last = events.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def _second_factor_missing(user) -> bool:
    """The HTTP pages' rule (``two_factor.needs_verification``): a session without its
    second factor reads nothing when the role or agency requires one, or when the user
    enrolled an authenticator voluntarily. ``has_confirmed_totp`` is annotated on
    websocket users (``auth.user_from_session``); others are asked."""
    if user.is_verified():
        return False
    if user.requires_two_factor:
        return True
    has_device = getattr(user, "has_confirmed_totp", None)
    if has_device is None:
        from apps.accounts.two_factor import has_confirmed_device

        has_device = has_confirmed_device(user=user)
    return bool(has_device)


def may_receive(*, user, audience: str, agency_id: int | None) -> bool:
    """Whether ``user`` may see events of this stream right now (checked per event)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if audience == Audience.REVIEW:
        return bool(user.is_irc_reviewer and user.is_verified())
    if audience == Audience.AGENCY:
        if user.agency_id is None or user.agency_id != agency_id:
            return False
        if _second_factor_missing(user):
            return False
        # Live alerts belong to the Alert Console and to Siren.
        return user.application_grants.filter(
            application__in=[Application.ALERT_CONSOLE, Application.SIREN]
        ).exists()
    return False


def stream_agency_id(*, user, audience: str) -> int | None:
    """The agency whose stream ``user`` reads: their own for the agency audience."""
    return user.agency_id if audience == Audience.AGENCY else None


def visible_events_after(*, user, audience: str, after_id: int) -> list[RealtimeEvent] | None:
    """What ``user`` may read of their stream after ``after_id``; None if nothing at all.

    The one read both delivery paths use: the websocket's catch-up and the polling
    fallback (``apps.realtime.views``), so both apply the same permission and agency.
    """
    agency_id = stream_agency_id(user=user, audience=audience)
    if not may_receive(user=user, audience=audience, agency_id=agency_id):
        return None
    return events_after(audience=audience, agency_id=agency_id, after_id=after_id)
