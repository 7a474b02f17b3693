"""Store-and-forward outbox: pulses are written here BEFORE any attempt to send them.

A SQLite file in the agent's data directory. A pulse leaves the outbox only when the
server has acknowledged it (202: accepted or duplicate), or when the server refuses it
for good (400/409/413: kept in ``rejected`` with the reason), or when it is older than
the server accepts (72 h). Anything else (no answer, a 5xx such as the 503 of a database
outage, 401/403, 429) leaves it queued for the next attempt. Resending is idempotent: a
pulse keeps its uuid, and the server acknowledges a uuid it already has as a duplicate
instead of storing it twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pulse_uuid TEXT NOT NULL UNIQUE,
    arrival_epoch REAL NOT NULL,
    body TEXT NOT NULL,
    queued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rejected (
    pulse_uuid TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class QueuedPulse:
    seq: int
    pulse_uuid: str
    arrival_epoch: float
    body: dict


class Outbox:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, pulses: list[dict], *, arrival_epochs: list[float]) -> int:
        """Queue pulses (API shape); a uuid already queued is not queued twice."""
        now = time.time()
        with self._lock:
            before = self._count()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO outbox (pulse_uuid, arrival_epoch, body, queued_at)"
                    " VALUES (?, ?, ?, ?)",
                    [
                        (p["pulse_uuid"], float(t), json.dumps(p, separators=(",", ":")), now)
                        for p, t in zip(pulses, arrival_epochs, strict=True)
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self._count() - before

    def _count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def __len__(self) -> int:
        with self._lock:
            return self._count()

    def peek(self, limit: int) -> list[QueuedPulse]:
        """The oldest queued pulses, at most ``limit``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, pulse_uuid, arrival_epoch, body FROM outbox ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [QueuedPulse(seq, uuid, t, json.loads(body)) for seq, uuid, t, body in rows]

    def mark_attempt(self, items: list[QueuedPulse]) -> None:
        with self._lock:
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?",
                [(item.seq,) for item in items],
            )

    def remove(self, items: list[QueuedPulse]) -> None:
        """Acknowledged by the server: delete."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(i.seq,) for i in items])
            self._db.execute("COMMIT")

    def reject(self, items: list[QueuedPulse], reason: str) -> None:
        """Refused for good: move to ``rejected`` (kept for diagnosis, never resent)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO rejected (pulse_uuid, body, reason, rejected_at)"
                " VALUES (?, ?, ?, ?)",
                [(i.pulse_uuid, json.dumps(i.body), reason[:2000], now) for i in items],
            )
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(i.seq,) for i in items])
            self._db.execute("COMMIT")

    def rejected(self) -> list[tuple[str, str]]:
        with self._lock:
            return self._db.execute(
                "SELECT pulse_uuid, reason FROM rejected ORDER BY rejected_at"
            ).fetchall()

    def expire(self, *, older_than: float) -> int:
        """Reject pulses that arrived before ``older_than`` (the server would refuse them)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, pulse_uuid, arrival_epoch, body FROM outbox WHERE arrival_epoch < ?",
                (older_than,),
            ).fetchall()
        items = [QueuedPulse(seq, uuid, t, json.loads(body)) for seq, uuid, t, body in rows]
        if items:
            self.reject(items, "expired: older than the server accepts")
        return len(items)
