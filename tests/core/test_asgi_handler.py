"""Database connections under daphne: the sensor API reuses a bounded pool of them, and a
request served in a thread of its own leaves none behind (shotspotter/asgi_handler.py)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests
from django.conf import settings
from django.db import connection

from apps.sensors.signing import generate_private_key, sign_request
from tests.browser import DaphneServer, current_database_url
from tests.factories import AgencyFactory
from tests.sensors.support import register

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

THREADS = 3


class BackendWatcher(threading.Thread):
    """Samples the server's PostgreSQL backends on the test database every 50 ms."""

    def __init__(self, *, database: str, exclude: set[int]):
        super().__init__(daemon=True)
        self.database, self.exclude = database, exclude
        self.seen: set[int] = set()
        self.peak = 0
        self.stopping = threading.Event()

    def current(self) -> set[int]:
        with psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres") as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.database])
                return {pid for (pid,) in cur.fetchall()} - self.exclude

    def run(self) -> None:
        while not self.stopping.is_set():
            pids = self.current()
            self.seen |= pids
            self.peak = max(self.peak, len(pids))
            time.sleep(0.05)


@pytest.fixture
def server():
    env = {
        "DJANGO_SETTINGS_MODULE": os.environ.get(
            "DJANGO_SETTINGS_MODULE", "shotspotter.settings_test"
        ),
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": settings.REDIS_URL or "",
        "DEBUG": "0",
        "DB_CONN_MAX_AGE": "60",
        "SENSOR_API_THREADS": str(THREADS),
    }
    with DaphneServer(env=env) as running:
        yield running


def _post_batch(url: str, sensor, key) -> int:
    now = time.time()
    body = json.dumps(
        {
            "pulses": [
                {
                    "pulse_uuid": str(uuid.uuid4()),
                    "arrival_time_utc": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 1))
                    + "Z",
                    "power_db_spl": 95.0,
                    "signal_to_noise_db": 12.0,
                    "features": {},
                }
            ]
        }
    ).encode()
    target = url + "/api/v1/sensor/pulses"
    headers = sign_request(
        method="POST",
        url=target,
        body=body,
        content_type="application/json",
        serial=sensor.serial_number,
        private_key=key,
    )
    return requests.post(target, data=body, headers=headers, timeout=30).status_code


def test_sensor_requests_share_a_bounded_pool_of_connections(server):
    agency = AgencyFactory()
    sensors = [
        register(agency=agency, serial=f"POOL-{n}", key=generate_private_key()) for n in range(8)
    ]
    keys = {}
    for n, (sensor, key) in enumerate(sensors):
        keys[n] = (sensor, key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = {cursor.fetchone()[0]}
    watcher = BackendWatcher(database=connection.settings_dict["NAME"], exclude=own)
    watcher.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda n: _post_batch(server.url, *keys[n % 8]), range(120)))
    watcher.stopping.set()
    watcher.join()

    assert codes == [202] * 120
    # 120 requests, 8 at a time: served by at most the pool's connections (one more for
    # whatever else the process touched), never one per request.
    assert watcher.peak <= THREADS + 1
    assert len(watcher.seen) <= THREADS + 1


def test_a_request_in_its_own_thread_closes_its_connection(server):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = {cursor.fetchone()[0]}
    watcher = BackendWatcher(database=connection.settings_dict["NAME"], exclude=own)
    # Backends open before the requests (another test's thread still closing its
    # connection) are not the requests' doing.
    watcher.exclude |= watcher.current()
    session = requests.Session()
    for _ in range(30):
        # The health check queries the database: a connection per request.
        assert session.get(server.url + "/healthz", timeout=30).status_code == 200
    time.sleep(0.5)
    assert watcher.current() == set()  # nothing left open by the 30 requests
