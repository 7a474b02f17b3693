"""Helpers of ``manage.py bench_pipeline``: its own database and Redis db, daphne and Celery
subprocesses, virtual sensors posting signed pulses over HTTP, and the measurements.

Nothing here touches the configured database: the bench creates ``bench_pipeline`` on the
same PostgreSQL server (dropped afterwards) and uses a dedicated Redis database number.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from apps.sensors.signing import generate_private_key, public_key_b64, sign_request

BENCH_DB = "bench_pipeline"
PULSES_PATH = "/api/v1/sensor/pulses"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class BenchRefused(Exception):
    """The environment cannot run the bench (message says why)."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def check_environment(*, databases: dict, redis_url: str | None) -> None:
    """Refuse unless the default database is PostgreSQL and Redis answers."""
    engine = databases["default"]["ENGINE"]
    if not engine.endswith("postgresql"):
        raise BenchRefused(
            "bench_pipeline needs PostgreSQL: set DATABASE_URL=postgres://user@host:port/db "
            f"(the configured database is {engine.rsplit('.', 1)[-1]}). The bench creates and "
            f"drops its own database {BENCH_DB!r} on that server."
        )
    if not redis_url:
        raise BenchRefused("bench_pipeline needs Redis: set REDIS_URL=redis://host:port/N.")
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as error:  # any connection problem means: not usable
        raise BenchRefused(f"Redis at {redis_url} is unreachable: {error}") from None


def redis_url_with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def database_url(settings_dict: dict, name: str) -> str:
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{name}"


def recreate_database(settings_dict: dict, name: str, *, drop_only: bool = False) -> None:
    import psycopg2

    conn = psycopg2.connect(
        dbname="postgres",
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        host=settings_dict.get("HOST") or None,
        port=settings_dict.get("PORT") or None,
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop_only:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, *, timeout_s: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchRefused(f"daphne on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchRefused(f"daphne did not listen on port {port} within {timeout_s:.0f} s")


@dataclass
class Services:
    """daphne processes and one Celery worker, started with the bench's environment."""

    env: dict
    log_dir: Path
    daphnes: int = 2
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for k in range(self.daphnes):
            port = free_port()
            log = open(self.log_dir / f"daphne-{k}.log", "w")  # noqa: SIM115
            process = subprocess.Popen(
                [str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
                + ["apps.integrations.bench_asgi:application"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.ports.append(port)
            self.processes.append(process)
        worker_log = self.log_dir / "celery.log"
        worker = subprocess.Popen(
            [str(bin_dir / "celery"), "-A", "shotspotter", "worker", "--concurrency=1"]
            + ["--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", "bench@%h"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=open(worker_log, "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(worker)
        for port, process in zip(self.ports, self.processes, strict=False):
            wait_for_port(port, timeout_s=60, process=process)
        deadline = time.monotonic() + 60
        while "ready." not in worker_log.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise BenchRefused(f"the Celery worker did not start; see {worker_log}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def service_env(*, database: str, redis_url: str, concurrency: int) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "apps.integrations.bench_settings",
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "CACHE_PREFIX": BENCH_DB,
            "CHANNELS_PREFIX": BENCH_DB,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "BENCH_ASGI_CONCURRENCY": str(concurrency),
        }
    )
    env.pop("TEST_DATABASE_NAME", None)
    return env


# --- Virtual sensors ---------------------------------------------------------------------------


@dataclass
class VirtualSensor:
    serial: str
    key: object
    base_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def post(self, pulses: list[dict]) -> requests.Response:
        body = json.dumps({"pulses": pulses}).encode()
        url = self.base_url + PULSES_PATH
        headers = sign_request(
            method="POST",
            url=url,
            body=body,
            content_type="application/json",
            serial=self.serial,
            private_key=self.key,
        )
        return self.session.post(url, data=body, headers=headers, timeout=30)


def new_key():
    key = generate_private_key()
    return key, public_key_b64(key.public_key())


def utc_text(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat().replace("+00:00", "Z")


NOISE_FEATURES = {"rise_time_ms": 2.5, "duration_ms": 40.0, "band_3": 0.1}


@dataclass
class IngestResult:
    seconds: float
    requests_ok: int = 0
    errors: int = 0
    retries: int = 0
    acked_uuids: set = field(default_factory=set)
    unacked_uuids: set = field(default_factory=set)
    latencies_ms: list = field(default_factory=list)
    error_samples: list = field(default_factory=list)


def run_ingest(
    *, sensors: list[VirtualSensor], seconds: float, batch_size: int, max_attempts: int = 3
) -> IngestResult:
    """Every sensor posts batches back to back (closed loop) for ``seconds``.

    A failed batch is resent with the same uuids (as the agent's store-and-forward does).
    """
    result = IngestResult(seconds=seconds)
    lock = threading.Lock()
    start_barrier = threading.Barrier(len(sensors) + 1)
    stop_at = [0.0]

    def loop(sensor: VirtualSensor) -> None:
        acked, unacked, latencies, errors, retries, ok, samples = set(), set(), [], 0, 0, 0, []
        start_barrier.wait()
        while time.monotonic() < stop_at[0]:
            now = time.time()
            pulses = [
                {
                    "pulse_uuid": str(uuid.uuid4()),
                    "arrival_time_utc": utc_text(now - 0.5 + 0.4 * k / batch_size),
                    "power_db_spl": 95.0,
                    "signal_to_noise_db": 12.0,
                    "features": NOISE_FEATURES,
                }
                for k in range(batch_size)
            ]
            uuids = {p["pulse_uuid"] for p in pulses}
            for attempt in range(max_attempts):
                t0 = time.perf_counter()
                try:
                    reply = sensor.post(pulses)
                    status = reply.status_code
                    text = reply.text[:200] if status != 202 else ""
                except requests.RequestException as error:
                    status, text = 0, str(error)[:200]
                if status == 202:
                    latencies.append((time.perf_counter() - t0) * 1000)
                    acked |= uuids
                    ok += 1
                    break
                errors += 1
                if len(samples) < 3:
                    samples.append(f"{status}: {text}")
                if attempt + 1 < max_attempts:
                    retries += 1
                    time.sleep(0.05)
            else:
                unacked |= uuids
        with lock:
            result.acked_uuids |= acked
            result.unacked_uuids |= unacked
            result.latencies_ms.extend(latencies)
            result.errors += errors
            result.retries += retries
            result.requests_ok += ok
            result.error_samples.extend(samples[: max(0, 5 - len(result.error_samples))])

    threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in sensors]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + seconds
    began = time.monotonic()
    start_barrier.wait()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - began
    return result
