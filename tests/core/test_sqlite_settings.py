"""The embedded SQLite takes concurrent writers: WAL, IMMEDIATE transactions, a busy timeout.

Under `make run` the server's threads and the in-process tasks write at once; without
these options a writer that meets the write lock fails with "database is locked". The
concurrency check opens real Django SQLite connections on a file in a temporary
directory, whatever database the rest of the suite uses.
"""

from __future__ import annotations

import threading
import time

from django.db import connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper

from shotspotter import env

HOLD_S = 1.0
ALIAS = "sqlite-concurrency"


def test_sqlite_urls_get_wal_immediate_transactions_and_a_busy_timeout():
    options = env.parse_database_url("sqlite:///db.sqlite3")["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 5
    assert "PRAGMA journal_mode=WAL" in options["init_command"]
    # PostgreSQL keeps exactly what its URL says.
    assert env.parse_database_url("postgres://u@h/db")["OPTIONS"] == {}


def _connection(path) -> DatabaseWrapper:
    settings = env.parse_database_url(f"sqlite:///{path}")
    settings.update(
        {
            "TIME_ZONE": None,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "AUTOCOMMIT": True,
            "ATOMIC_REQUESTS": False,
        }
    )
    return DatabaseWrapper(settings, alias=ALIAS)


def test_two_writers_on_one_file_wait_for_each_other_instead_of_failing(
    tmp_path, django_db_blocker
):
    # A file of our own, not the suite's test database: pytest-django's guard is lifted.
    with django_db_blocker.unblock():
        _two_writers(tmp_path / "embedded.sqlite3")


def _two_writers(path) -> None:
    setup = _connection(path)
    with setup.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("CREATE TABLE pulse (writer TEXT, n INTEGER)")
    setup.close()

    errors: list[BaseException] = []
    first_holds_the_lock = threading.Event()

    def write(name: str, *, hold_s: float) -> None:
        connection = _connection(path)
        connections[ALIAS] = connection  # this thread's own connection under ALIAS
        try:
            # A transaction that reads, then writes, as Django's atomic() runs it: in
            # the DEFERRED default the write could not wait for the lock (it fails at
            # once); IMMEDIATE takes the lock at BEGIN, where waiting is safe.
            with transaction.atomic(using=ALIAS), connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pulse")
                cursor.execute("INSERT INTO pulse VALUES (%s, 1)", [name])
                if hold_s:
                    first_holds_the_lock.set()
                    time.sleep(hold_s)
                cursor.execute("INSERT INTO pulse VALUES (%s, 2)", [name])
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()
            del connections[ALIAS]

    first = threading.Thread(target=write, args=("first",), kwargs={"hold_s": HOLD_S})
    first.start()
    assert first_holds_the_lock.wait(5)
    started = time.monotonic()
    second = threading.Thread(target=write, args=("second",), kwargs={"hold_s": 0})
    second.start()
    first.join(10)
    second.join(10)
    waited_s = time.monotonic() - started

    assert errors == []
    check = _connection(path)
    with check.cursor() as cursor:
        cursor.execute("SELECT writer, count(*) FROM pulse GROUP BY writer ORDER BY writer")
        assert cursor.fetchall() == [("first", 2), ("second", 2)]
    check.close()
    assert waited_s >= HOLD_S * 0.5  # the second writer really met the lock and waited
