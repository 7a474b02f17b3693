"""Django's ASGI handler, with database connections that outlive a request where safe.

Django runs each HTTP request's synchronous code in a thread of its own (one
``ThreadSensitiveContext`` per request). A persistent connection (``CONN_MAX_AGE`` > 0)
opened in such a thread would be left behind when the thread ends, and PostgreSQL runs
out of client slots; a new connection per request, on the other hand, costs a backend
start on every sensor batch and every websocket permission check. So:

- Sensor API requests (short, frequent machine traffic) run on a small pool of
  long-lived threads (``SENSOR_API_THREADS`` per process); each keeps its connection
  from request to request until ``CONN_MAX_AGE`` passes, so a process holds at most that
  many connections for them. Requests beyond the pool wait for a free thread.
- Channels consumers' database calls run on the process's one long-lived sync thread,
  which keeps its connection the same way.
- Every other request keeps a thread of its own, and ``close_request_thread_connections``
  closes what it opened when it finishes.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

# Paths whose requests run on the pooled long-lived threads.
POOLED_PREFIXES = ("/api/v1/sensor/",)

_thread_kind = threading.local()


def _mark_pooled_thread() -> None:
    _thread_kind.pooled = True


class PersistentConnectionASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self._pool_size = settings.SENSOR_API_THREADS
        self._idle: asyncio.Queue | None = None

    def _executors(self) -> asyncio.Queue:
        # Created on first use, inside the server's event loop.
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self._pool_size):
                self._idle.put_nowait(
                    ThreadPoolExecutor(
                        max_workers=1,
                        thread_name_prefix="sensor-api",
                        initializer=_mark_pooled_thread,
                    )
                )
        return self._idle

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith(POOLED_PREFIXES):
            await super().__call__(scope, receive, send)
            return
        idle = self._executors()
        executor = await idle.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            idle.put_nowait(executor)


def close_request_thread_connections(**_kwargs) -> None:
    """``request_finished`` receiver: a request that ran in a thread of its own closes its
    connections (the thread is about to end); long-lived threads keep theirs."""
    if getattr(_thread_kind, "pooled", False):
        return
    if SyncToAsync.thread_sensitive_context.get(None) is not None:
        connections.close_all()


def get_asgi_application() -> PersistentConnectionASGIHandler:
    """``django.core.asgi.get_asgi_application`` with this handler."""
    import django
    from django.core.signals import request_finished

    django.setup(set_prefix=False)
    request_finished.connect(
        close_request_thread_connections, dispatch_uid="close_request_thread_connections"
    )
    return PersistentConnectionASGIHandler()
