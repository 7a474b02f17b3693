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

    def stream_agency_id(self, user) -> int | None:
        return None

    async def connect(self):
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        user = await database_sync_to_async(user_from_session)(self.session_key)
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.agency_id = self.stream_agency_id(user)
        if not await self._may_receive(user):
            await self.close(code=CLOSE_FORBIDDEN)
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
        user = await database_sync_to_async(user_from_session)(self.session_key)
        if user is None or not await self._may_receive(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        event = message["event"]
        if event["id"] <= self.last_sent_id:
            return  # already delivered by a catch-up
        await self._send_event(event)

    async def _catch_up(self, after: int):
        self.last_sent_id = max(after, getattr(self, "last_sent_id", 0))
        events = await database_sync_to_async(selectors.events_after)(
            audience=self.audience, agency_id=self.agency_id, after_id=self.last_sent_id
        )
        for event in events:
            await self._send_event(event.as_message())

    async def _send_event(self, event: dict):
        self.last_sent_id = max(self.last_sent_id, event["id"])
        await self.send_json({"type": "event", **event})

    async def _may_receive(self, user) -> bool:
        return await database_sync_to_async(selectors.may_receive)(
            user=user, audience=self.audience, agency_id=self.agency_id
        )


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

    def stream_agency_id(self, user) -> int | None:
        return user.agency_id
