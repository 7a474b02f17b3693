"""The ASGI application ``bench_pipeline`` serves with daphne: ``shotspotter.asgi`` with a
cap on concurrent HTTP requests per process (``BENCH_ASGI_CONCURRENCY``, default 8).

Sensor requests are bounded by the handler's own thread pool (``SENSOR_API_THREADS``);
the cap keeps the number of requests parsed at once, and so memory, bounded too.
"""

from __future__ import annotations

import asyncio
import os

from shotspotter.asgi import application as inner

_LIMIT = int(os.environ.get("BENCH_ASGI_CONCURRENCY", "8"))
_semaphore: asyncio.Semaphore | None = None


async def application(scope, receive, send):
    global _semaphore
    if scope["type"] != "http":
        return await inner(scope, receive, send)
    if _semaphore is None:
        _semaphore = asyncio.Semaphore(_LIMIT)
    async with _semaphore:
        return await inner(scope, receive, send)
