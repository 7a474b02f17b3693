"""Websocket streams of realtime events, with catch-up and a permission check per event.

A client connects to ``/ws/<stream>/?after=<last event id it saw>``: it first gets every
stored event after that id, then live ones. Subclasses say which stream a user gets.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.realtime import selectors
from apps.realtime.auth import user_from_session
from apps.realtime.models import Audience
from apps.realtime.services import group_name

# Close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class EventStreamConsumer(AsyncJsonWebsocketConsumer):
    audience: str = ""

    async def connect(self):
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        refusal = await database_sync_to_async(self._refusal)()
        if refusal is not None:
            await self.close(code=refusal)
            return
        self.group = group_name(audience=self.audience, agency_id=self.agency_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        after = _after_id(self.scope.get("query_string", b""))
        await self._catch_up(after)

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # Clients may ask for a catch-up at any time (e.g. after a tab slept).
        if isinstance(content, dict) and content.get("type") == "catch_up":
            after = content.get("after")
            if isinstance(after, int) and after >= 0:
                await self._catch_up(after)

    async def realtime_event(self, message):
        event = message["event"]
        if event["id"] <= self.last_sent_id:
            return  # already delivered by a catch-up
        # One thread hop per event for the whole check: at a fan-out to hundreds of
        # consumers the hops (and their database connections) are what costs.
        if await database_sync_to_async(self._refusal)() is not None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self._send_event(event)

    def _refusal(self) -> int | None:
        """Why the session's user may not read this stream now (a close code), or None."""
        user = user_from_session(self.session_key)
        if user is None:
            return CLOSE_UNAUTHENTICATED
        agency_id = selectors.stream_agency_id(user=user, audience=self.audience)
        if getattr(self, "agency_id", agency_id) != agency_id:
            return CLOSE_FORBIDDEN  # moved to another agency since connecting
        if not selectors.may_receive(user=user, audience=self.audience, agency_id=agency_id):
            return CLOSE_FORBIDDEN
        self.agency_id = agency_id
        return None

    async def _catch_up(self, after: int):
        self.last_sent_id = max(after, getattr(self, "last_sent_id", 0))
        events = await database_sync_to_async(self._visible_events)(self.last_sent_id)
        if events is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        for event in events:
            await self._send_event(event.as_message())

    def _visible_events(self, after_id: int):
        # The same read as the polling endpoint (apps.realtime.views), user re-read.
        user = user_from_session(self.session_key)
        if user is None:
            return None
        if selectors.stream_agency_id(user=user, audience=self.audience) != self.agency_id:
            return None  # moved to another agency since connecting
        return selectors.visible_events_after(user=user, audience=self.audience, after_id=after_id)

    async def _send_event(self, event: dict):
        self.last_sent_id = max(self.last_sent_id, event["id"])
        await self.send_json({"type": "event", **event})


def _after_id(query_string: bytes) -> int:
    values = parse_qs(query_string.decode("latin-1")).get("after", ["0"])
    try:
        return max(0, int(values[-1]))
    except ValueError:
        return 0


class ReviewStreamConsumer(EventStreamConsumer):
    """Review-center staff: incidents entering, claimed in and leaving the queue."""

    audience = Audience.REVIEW


class AgencyStreamConsumer(EventStreamConsumer):
    """Users of one agency: published incidents and their updates."""

    audience = Audience.AGENCY
