"""The ASGI application ``bench_pipeline`` serves with daphne: ``shotspotter.asgi`` with a
cap on concurrent HTTP requests per process (``BENCH_ASGI_CONCURRENCY``, default 8).

Each in-flight Django request holds its own PostgreSQL connection; without a cap, 200
sensors posting at once would open 200 connections (the server's limit is 100). A
production deployment needs the same bound (or a pooler such as PgBouncer).
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
