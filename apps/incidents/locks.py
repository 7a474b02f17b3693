"""One writer per coverage area at a time, so concurrent pipeline runs cannot duplicate.

PostgreSQL: ``pg_advisory_xact_lock(namespace, area_id)`` inside the run's transaction;
it is released by the commit or rollback, so a worker that dies releases it too, and
every statement after it sees what the previous holder committed (READ COMMITTED).

SQLite (embedded mode): one process runs everything (Celery tasks eagerly, in the
request's thread), and SQLite serialises writers anyway; a per-area ``threading.Lock``
makes runs from concurrent request threads take turns as well.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

# First key of the two-key advisory lock: "incidents pipeline" (arbitrary, fixed).
ADVISORY_NAMESPACE = 0x1C1D

_local_locks: dict[int, threading.Lock] = {}
_local_guard = threading.Lock()


def _thread_lock(area_id: int) -> threading.Lock:
    with _local_guard:
        return _local_locks.setdefault(area_id, threading.Lock())


@contextmanager
def coverage_area_lock(area_id: int) -> Iterator[None]:
    """A transaction holding the area's pipeline lock."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_NAMESPACE, int(area_id)]
                )
            yield
        return
    with _thread_lock(int(area_id)), transaction.atomic():
        yield
