"""Real processes for the fault scenarios: a private Redis, a private PostgreSQL cluster,
daphne and a Celery worker, each started, stopped and killed like in production.

The shared Redis and PostgreSQL are never touched: a scenario that stops a server stops
its own. Process output goes to log files (a pipe nobody reads would block the server).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.browser import ASGI_APP, REPO_ROOT, free_port


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian layout), or None."""
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def missing_binaries() -> str:
    """Why the fault scenarios cannot run here ('' when they can)."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    if postgres_bin() is None or shutil.which("pg_dump") is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) or pg_dump are not installed"
    return ""


def wait_until(predicate: Callable[[], object], *, timeout_s: float, what: str, every_s=0.2):
    """Poll until ``predicate()`` is truthy; fail with ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Process:
    """A subprocess in its own process group, its output in ``log_path``."""

    def __init__(self, args: list[str], *, env: dict[str, str], log_path: Path):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it open)
        self.popen = subprocess.Popen(
            self.args,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill_group(self) -> None:
        """SIGKILL the process and every child (a machine losing the worker)."""
        if self.running():
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        else:  # the leader is gone; its children may not be
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen = None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces, so split after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class PrivateRedis:
    """``redis-server`` on its own port, in memory only; stop() and start() keep the port."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.process: Process | None = None

    def start(self) -> PrivateRedis:
        self.process = Process(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.log_dir),
            ],
            env=dict(os.environ),
            log_path=self.log_dir / "redis.log",
        ).start()
        wait_until(lambda: port_open(self.port), timeout_s=10, what="redis-server to listen")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        wait_until(lambda: not port_open(self.port), timeout_s=10, what="redis-server to stop")

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)


class PrivateCluster:
    """A PostgreSQL cluster of its own (initdb as the postgres user), restartable."""

    def __init__(self):
        self.port = free_port()
        # initdb refuses root; the postgres user needs to own the directory.
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, user="postgres", group="postgres")
        self.bin = postgres_bin()
        self.data = self.dir / "data"
        self.log_path = self.dir / "server.log"

    def _as_postgres(self, *args: str, timeout_s: float = 60) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_postgres, *args],
            check=True,
            capture_output=True,
            timeout=timeout_s,
        )

    def init(self) -> PrivateCluster:
        self._as_postgres(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        return self.start()

    def start(self) -> PrivateCluster:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
            "-o", options, "-w", "start",
        )  # fmt: skip
        return self

    def stop(self, *, mode: str = "fast") -> None:
        """``immediate`` is a crash: no checkpoint, recovery from the WAL at the next start."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str):
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database
        )
        connection.autocommit = True
        return connection

    def destroy(self) -> None:
        try:
            self.stop(mode="immediate")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def copy_database(*, source_url: str, cluster: PrivateCluster, name: str) -> None:
    """Schema and rows of ``source_url`` into a new database of the private cluster."""
    connection = cluster.connect("postgres")
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", source_url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", cluster.url(name)],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=120,
    )


def app_env(*, database_url: str, redis_url: str, tmp_path: Path, **extra: str) -> dict:
    """The production settings module with the given services (not the eager test one)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shotspotter.settings",
        "SECRET_KEY": "faults-test-only-key",
        "DEBUG": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CHANNELS_PREFIX": "faults",
        "CACHE_PREFIX": "faults",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("TEST_DATABASE_NAME", None)
    return env


def daphne(*, env: dict, tmp_path: Path, app: str = ASGI_APP) -> tuple[Process, str]:
    """daphne serving ``app`` (by default the project plus static files from the finders;
    ``shotspotter.asgi:application`` serves collected ones through WhiteNoise)."""
    port = free_port()
    executable = Path(sys.executable).with_name("daphne")
    process = Process(
        [str(executable), "-b", "127.0.0.1", "-p", str(port), app],
        env=env,
        log_path=tmp_path / "daphne.log",
    ).start()
    wait_until(
        lambda: port_open(port) or not process.running(),
        timeout_s=60,
        what="daphne to listen",
    )
    assert process.running(), process.log()
    return process, f"http://127.0.0.1:{port}"


def celery_worker(*, env: dict, tmp_path: Path, name: str, beat: bool = False) -> Process:
    """``celery -A shotspotter worker``: one prefork pool process, like production's."""
    executable = Path(sys.executable).with_name("celery")
    args = [
        str(executable), "-A", "shotspotter", "worker", "--pool=prefork", "--concurrency=1",
        "--loglevel=INFO", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    if beat:
        args += ["--beat", f"--schedule={tmp_path / (name + '-beat')}"]
    process = Process(args, env=env, log_path=tmp_path / f"{name}.log").start()
    wait_until(
        lambda: "ready." in process.log() or not process.running(),
        timeout_s=60,
        what=f"celery worker {name} to be ready",
    )
    assert process.running(), process.log()
    return process


def pipeline_weather_env(scenario) -> dict[str, str]:
    """The scenario's air for the worker's pipeline (settings read from the environment)."""
    return {
        "PIPELINE_TEMPERATURE_C": str(scenario.weather.temperature_c),
        "PIPELINE_WIND_SPEED_MS": str(scenario.weather.wind_speed_ms),
        "PIPELINE_WIND_FROM_DEG": str(scenario.weather.wind_from_deg),
    }
