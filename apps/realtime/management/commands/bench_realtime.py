"""Benchmark live alert fan-out: N portal websocket clients receiving one published incident.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python manage.py bench_realtime \
        [--clients 500] [--daphne 2] [--parallel 20] [--conn-max-age 60] [--redis-db 14]

Creates its own database ``bench_realtime`` on the configured PostgreSQL server (migrated,
dropped afterwards unless --keep-db) and uses Redis database --redis-db (emptied before and
after); this process publishes into the same Redis db (channel layer and task queue are
re-pointed), so it never touches real data. Starts --daphne daphne processes serving the
project's ASGI application (Redis channel layer).

--clients users of one agency (each with Alert Console access and a session of their own)
open /ws/agency/ with their session cookie, spread over the daphne processes; one user of a
second agency connects too. A pending incident of the first agency is then published through
the review center's real services (claim, decide as gunfire). Printed: clients connected,
delivered count, delivery latency (publish call started -> ``incident.published`` frame
received by the client) p50 / p95 / max, and what the other agency's client received.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from apps.integrations import benchmark as bench

BENCH_DB = "bench_realtime"
CENTRE = (40.6936, -89.5890)
PUBLISHED = "incident.published"


def _square(lat: float, lon: float, half_deg: float) -> dict:
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


class ClientFleet:
    """``python -m apps.realtime.benchmark`` in a subprocess, spoken to by JSON lines."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "apps.realtime.benchmark"],
            cwd=bench.REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def _send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def open(self, *, path: str, clients: list[dict], parallel: int, timeout_s: float):
        """Connect every client; (names connected, seconds taken, handshakes retried)."""
        plan = {"path": path, "parallel": parallel, "timeout_s": timeout_s, "clients": clients}
        self._send(json.dumps(plan))
        answer = self.lines.get(timeout=timeout_s * (len(clients) / parallel + 2))
        if answer is None or "connected" not in answer:
            raise CommandError("the websocket client process failed; see its output above")
        return set(answer["connected"]), answer["connect_s"], answer["retries"]

    def next_event(self, *, timeout_s: float) -> dict | None:
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if line is None:
            raise CommandError("the websocket client process exited early")
        return line

    def stop(self) -> dict:
        """Close the clients; {name: close code before the stop, or None}."""
        self._send("stop")
        while True:
            line = self.lines.get(timeout=30)
            if line is None:
                raise CommandError("the websocket client process exited early")
            if "closed" in line:
                return line["closed"]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)


class Command(BaseCommand):
    help = "Realtime benchmark: one published incident fanned out to N portal websockets."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=500)
        parser.add_argument("--daphne", type=int, default=2, help="daphne processes.")
        parser.add_argument("--redis-db", type=int, default=14)
        parser.add_argument("--parallel", type=int, default=20, help="Handshakes at a time.")
        parser.add_argument(
            "--conn-max-age",
            type=int,
            default=60,
            help="The servers' DB_CONN_MAX_AGE (60, the production default; 0 is a new "
            "connection per use).",
        )
        parser.add_argument(
            "--timeout", type=float, default=60.0, help="Seconds to wait for deliveries."
        )
        parser.add_argument("--keep-db", action="store_true")
        parser.add_argument(
            "--log-dir", default=str(Path(tempfile.gettempdir()) / "bench_realtime")
        )

    def handle(self, *args, **opts):
        for name in ("clients", "daphne", "timeout", "parallel"):
            if opts[name] <= 0:
                raise CommandError(f"--{name} must be positive.")
        if opts["conn_max_age"] < 0:
            raise CommandError("--conn-max-age must be >= 0.")
        if not 0 <= opts["redis_db"] <= 15:
            raise CommandError("--redis-db must be 0..15.")
        try:
            bench.check_environment(databases=settings.DATABASES, redis_url=settings.REDIS_URL)
        except bench.BenchRefused as refusal:
            raise CommandError(str(refusal).replace("bench_pipeline", "bench_realtime")) from None
        import redis

        source = dict(settings.DATABASES["default"])
        redis_url = bench.redis_url_with_db(settings.REDIS_URL, opts["redis_db"])
        redis_client = redis.Redis.from_url(redis_url)
        redis_client.flushdb()
        self._publish_into(redis_url)
        self.stdout.write(f"Creating database {BENCH_DB!r} and migrating it ...")
        bench.recreate_database(source, BENCH_DB)
        self._use_bench_database()
        call_command("migrate", verbosity=0, interactive=False)
        env = bench.service_env(
            database=bench.database_url(source, BENCH_DB), redis_url=redis_url, concurrency=8
        )
        # Sessions made here are signed with this process's key: the servers need the same.
        # Consumers run their database work in one thread per process, so unlike HTTP
        # requests they can reuse a connection: --conn-max-age shows what that is worth.
        env.update(
            {
                "CACHE_PREFIX": BENCH_DB,
                "CHANNELS_PREFIX": BENCH_DB,
                "SECRET_KEY": settings.SECRET_KEY,
                "DJANGO_SETTINGS_MODULE": "shotspotter.settings",
                "DB_CONN_MAX_AGE": str(opts["conn_max_age"]),
            }
        )
        log_dir = Path(opts["log_dir"])
        processes: list[subprocess.Popen] = []
        fleet = None
        try:
            ports = self._start_daphnes(env=env, count=opts["daphne"], log_dir=log_dir)
            processes = self._processes
            self.stdout.write(f"  daphne ports {ports}; logs in {log_dir}")
            agency, sessions, other_session = self._accounts(opts["clients"])
            fleet = ClientFleet()
            self._run(
                fleet=fleet,
                agency=agency,
                sessions=sessions,
                other=other_session,
                ports=ports,
                opts=opts,
            )
        finally:
            if fleet is not None:
                fleet.kill()
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
            connections.close_all()
            if not opts["keep_db"]:
                bench.recreate_database(source, BENCH_DB, drop_only=True)
            redis_client.flushdb()

    # --- set-up ---------------------------------------------------------------------------

    def _publish_into(self, redis_url: str) -> None:
        """Point this process's channel layer and task queue at the bench's Redis db."""
        from channels.layers import channel_layers

        from shotspotter.celery import app

        settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
            {"address": redis_url, "socket_timeout": 15, "socket_connect_timeout": 3}
        ]
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = BENCH_DB
        channel_layers.backends = {}
        # Alert e-mails and webhooks are queued for a worker that this bench does not run.
        app.conf.broker_url = redis_url
        app.conf.task_always_eager = False

    def _use_bench_database(self) -> None:
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = BENCH_DB
        connections["default"].settings_dict["NAME"] = BENCH_DB

    def _start_daphnes(self, *, env: dict, count: int, log_dir: Path) -> list[int]:
        log_dir.mkdir(parents=True, exist_ok=True)
        daphne = Path(sys.executable).parent / "daphne"
        ports, self._processes = [], []
        for k in range(count):
            port = bench.free_port()
            process = subprocess.Popen(
                [str(daphne), "-b", "127.0.0.1", "-p", str(port), "shotspotter.asgi:application"],
                cwd=bench.REPO_ROOT,
                env=env,
                stdout=open(log_dir / f"daphne-{k}.log", "w"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            ports.append(port)
            self._processes.append(process)
        for port, process in zip(ports, self._processes, strict=True):
            bench.wait_for_port(port, timeout_s=60, process=process)
        return ports

    def _accounts(self, clients: int):
        """Two agencies, ``clients`` console users of the first and one of the second."""
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        from apps.accounts.models import Agency, Application, ApplicationGrant, User

        self.stdout.write(f"Creating {clients} + 1 users and their sessions ...")
        agency = Agency.objects.create(system_id="901", name="Bench Police Department")
        other = Agency.objects.create(system_id="902", name="Neighbouring Police Department")
        users = [User(email=f"officer{k:04d}@bench.example", agency=agency) for k in range(clients)]
        users.append(User(email="officer@neighbour.example", agency=other))
        for user in users:
            user.set_unusable_password()
        users = User.objects.bulk_create(users)
        ApplicationGrant.objects.bulk_create(
            ApplicationGrant(user=user, application=Application.ALERT_CONSOLE) for user in users
        )
        backend = settings.AUTHENTICATION_BACKENDS[0]
        keys = []
        for user in users:
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = backend
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            keys.append(session.session_key)
        return agency, keys[:-1], keys[-1]

    def _pending_incident(self, agency):
        from django.utils import timezone

        from apps.geo.models import CoverageArea
        from apps.incidents.models import Incident, IncidentStatus
        from apps.incidents.services import incident_number_next

        area = CoverageArea.objects.create(
            agency=agency, name="Bench area", boundary=_square(*CENTRE, 0.03)
        )
        when = timezone.now() - dt.timedelta(seconds=30)
        return Incident.objects.create(
            agency=agency,
            coverage_area=area,
            number=incident_number_next(agency=agency),
            status=IncidentStatus.PENDING_REVIEW,
            first_shot_at=when,
            last_shot_at=when + dt.timedelta(seconds=2),
            detected_at=when + dt.timedelta(seconds=5),
            latitude=CENTRE[0],
            longitude=CENTRE[1],
            ellipse_major_m=40.0,
            ellipse_minor_m=20.0,
            ellipse_azimuth_deg=30.0,
            origin_latitude=CENTRE[0],
            origin_longitude=CENTRE[1],
            rounds=3,
            machine_class="gunfire",
            nearest_address="1200 block of W Main St",
        )

    # --- the measurement --------------------------------------------------------------------

    def _run(self, *, fleet, agency, sessions, other, ports, opts) -> None:
        from apps.accounts.models import Role, User
        from apps.review import services as review

        clients = [
            {"name": f"c{k}", "port": ports[k % len(ports)], "session_key": key}
            for k, key in enumerate(sessions)
        ]
        outsider = {"name": "other-agency", "port": ports[0], "session_key": other}
        self.stdout.write(f"Connecting {len(clients)} + 1 websocket clients ...")
        connected, connect_s, retries = fleet.open(
            path="/ws/agency/",
            clients=clients + [outsider],
            parallel=opts["parallel"],
            timeout_s=60.0,
        )
        mine = connected - {outsider["name"]}
        self.stdout.write(
            f"  {len(mine)} connected in {connect_s:.1f} s ({len(clients) - len(mine)} failed, "
            f"{retries} handshakes retried)"
        )
        if outsider["name"] not in connected:
            raise CommandError("the other agency's client could not connect")
        time.sleep(2.0)  # let every consumer finish its (empty) catch-up

        reviewer = User.objects.create(email="reviewer@bench.example", role=Role.IRC_REVIEWER)
        incident = self._pending_incident(agency)
        review.claim(reviewer=reviewer, incident_id=incident.pk)
        self.stdout.write("Publishing one incident through the review center ...")
        published_at = time.monotonic()
        review.decide(
            reviewer=reviewer, incident_id=incident.pk, decision="multiple_gunshots", rounds=3
        )
        publish_s = time.monotonic() - published_at

        received: dict[str, float] = {}
        outsider_events = 0
        deadline = time.monotonic() + opts["timeout"]
        quiet_until = None
        while time.monotonic() < (quiet_until or deadline):
            event = fleet.next_event(timeout_s=0.2)
            if event is None:
                if quiet_until is None and len(received) >= len(mine):
                    # Room for anything the other agency might (wrongly) receive.
                    quiet_until = time.monotonic() + 3.0
                continue
            if event["name"] == outsider["name"]:
                outsider_events += 1
            elif event["kind"] == PUBLISHED and event["incident_id"] == incident.pk:
                received.setdefault(event["name"], event["at"])
        closed = fleet.stop()
        latencies = [(at - published_at) * 1000 for at in received.values()]
        dropped = {name: code for name, code in closed.items() if code is not None}

        self.stdout.write("")
        self.stdout.write(f"One published incident -> {len(clients)} portal websocket clients")
        rows = [
            (
                "daphne processes",
                f"{len(ports)} (Redis channel layer, DB_CONN_MAX_AGE={opts['conn_max_age']})",
            ),
            (
                "clients connected",
                f"{len(mine)} of {len(clients)} in {connect_s:.1f} s "
                f"({opts['parallel']} handshakes at a time, {retries} retried)",
            ),
            ("publish call (claim excluded)", f"{publish_s * 1000:,.0f} ms"),
            ("delivered", f"{len(received)} of {len(mine)}"),
            ("latency p50 / p95 / max", self._pcts(latencies)),
            ("clients closed by the server", f"{len(dropped)}"),
            ("other agency's client received", f"{outsider_events} events"),
        ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"  {label.ljust(width)}  {value}")
        if dropped:
            codes = sorted({str(code) for code in dropped.values()})
            self.stdout.write(f"  close codes: {', '.join(codes)}")
        if outsider_events:
            raise CommandError("the other agency's client received events: isolation broken")
        if len(received) < len(clients):
            raise CommandError(f"{len(clients) - len(received)} clients did not get the incident")

    @staticmethod
    def _pcts(values: list[float]) -> str:
        if not values:
            return "-"
        return (
            f"{bench.percentile(values, 0.5):,.0f} / {bench.percentile(values, 0.95):,.0f} / "
            f"{max(values):,.0f} ms"
        )
