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
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
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
    worker_nice: int = 10
    worker_concurrency: int = 2
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
            # At the CPU priority ``make worker`` gives it (below the web processes).
            ["nice", "-n", str(self.worker_nice)]
            + [str(bin_dir / "celery"), "-A", "shotspotter", "worker"]
            + [f"--concurrency={self.worker_concurrency}"]
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
            "DJANGO_SETTINGS_MODULE": "shotspotter.settings",
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
    batch_sizes: list = field(default_factory=list)
    backlog: int = 0  # open loop: detected by the sensors but not acknowledged at the end
    # (seconds since the start, pulses) of every acknowledged batch
    acks: list = field(default_factory=list)

    def steady_rate(self, *, after_fraction: float = 0.5) -> float:
        """Pulses per second acknowledged after the first ``after_fraction`` of the run.

        In the open loop a server that keeps up acknowledges what is offered once the
        first posts are through (the sensors' backlog stays constant); the average over
        the whole run is lower only by what is in flight at the end.
        """
        start = self.seconds * after_fraction
        window = self.seconds - start
        if window <= 0:
            return 0.0
        return sum(n for t, n in self.acks if t >= start) / window


def _noise_pulse(arrival_s: float) -> dict:
    return {
        "pulse_uuid": str(uuid.uuid4()),
        "arrival_time_utc": utc_text(arrival_s),
        "power_db_spl": 95.0,
        "signal_to_noise_db": 12.0,
        "features": NOISE_FEATURES,
    }


def run_ingest(
    *,
    sensors: list[VirtualSensor],
    seconds: float,
    batch_size: int,
    max_attempts: int = 3,
    rate_per_sensor: float | None = None,
    interval_s: float = 1.0,
    max_batch: int = 200,
) -> IngestResult:
    """Sensors post signed batches for ``seconds``; failed batches are resent with the same
    uuids (as the agent's store-and-forward does).

    Without ``rate_per_sensor``: closed loop, every sensor posts ``batch_size`` pulses back
    to back (the server's capacity). With it: the reference agent's behaviour under a
    steady load, each sensor detects ``rate_per_sensor`` pulses per second and every
    ``interval_s`` posts what it has (at most ``max_batch``); whatever a sensor detected but
    had not had acknowledged at the end is its ``backlog``.
    """
    result = IngestResult(seconds=seconds)
    lock = threading.Lock()
    start_barrier = threading.Barrier(len(sensors) + 1)
    stop_at = [0.0]
    run_began = [0.0]

    def loop(sensor: VirtualSensor) -> None:
        acked, unacked, latencies, errors, retries, ok, samples = set(), set(), [], 0, 0, 0, []
        acks: list[tuple[float, int]] = []
        sizes: list[int] = []
        pending: list[dict] = []
        start_barrier.wait()
        began = time.time()
        detected = 0  # pulses this sensor has detected so far (open loop)
        next_send = time.monotonic()
        while time.monotonic() < stop_at[0]:
            now = time.time()
            if rate_per_sensor is None:
                pulses = [_noise_pulse(now - 0.5 + 0.4 * k / batch_size) for k in range(batch_size)]
            else:
                time.sleep(max(0.0, next_send - time.monotonic()))
                next_send += interval_s
                now = time.time()
                due = int((now - began) * rate_per_sensor)
                pending.extend(
                    _noise_pulse(began + k / rate_per_sensor) for k in range(detected, due)
                )
                detected = due
                pulses, pending = pending[:max_batch], pending[max_batch:]
                if not pulses:
                    continue
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
                    acks.append((time.monotonic() - run_began[0], len(pulses)))
                    sizes.append(len(pulses))
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
        if rate_per_sensor is not None:
            due = int((time.time() - began) * rate_per_sensor)
            backlog = len(pending) + max(0, due - detected)
        else:
            backlog = 0
        with lock:
            result.acked_uuids |= acked
            result.unacked_uuids |= unacked
            result.latencies_ms.extend(latencies)
            result.batch_sizes.extend(sizes)
            result.acks.extend(acks)
            result.backlog += backlog
            result.errors += errors
            result.retries += retries
            result.requests_ok += ok
            result.error_samples.extend(samples[: max(0, 5 - len(result.error_samples))])

    threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in sensors]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + seconds
    began = run_began[0] = time.monotonic()
    start_barrier.wait()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - began
    return result


# --- Reviewers in the Incident Review Center ---------------------------------------------------

LOGIN_PATH = "/accounts/login/"
TWO_FACTOR_PATH = "/accounts/two-factor/"
REVIEW_QUEUE_PATH = "/review/"
# Request kinds of a reviewer's loop, in the order of the table.
REVIEW_KINDS = ("queue", "claim", "incident", "comment", "release")
REVIEW_KIND_LABELS = {
    "queue": "GET review queue page",
    "claim": "POST claim",
    "incident": "GET incident review page",
    "comment": "POST comment",
    "release": "POST release",
}
QUEUE_MARKER = 'id="queue-rows"'  # only the real queue page has it (not log-in or 2FA)
HOLDER_MARKER = "You hold this incident"
COMMENT_ADDED = "Comment added."
RELEASED = "Released back to the queue."
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class ReviewerClient:
    """One reviewer's browser over plain HTTP: its cookies, the page's CSRF token, and no
    redirect following (each request is timed and checked on its own).

    Cookies are kept by hand: DEBUG=0 marks them Secure, and a client on loopback sends
    them over http as browsers do for localhost (requests' cookie jar would drop them).
    """

    def __init__(self, *, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(self, method: str, path: str, *, data: dict | None = None) -> requests.Response:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            data = {"csrfmiddlewaretoken": self.csrf, **(data or {})}
        reply = self.http.request(
            method,
            self.base_url + path,
            data=data,
            headers=headers,
            allow_redirects=False,
            timeout=30,
        )
        self.http.cookies.clear()
        for header in reply.raw.headers.getlist("Set-Cookie"):
            parsed = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:  # Django deletes a cookie with an empty value and max-age=0
                    self.cookies.pop(name, None)
        if "text/html" in reply.headers.get("Content-Type", ""):
            found = _CSRF_INPUT.search(reply.text)
            if found:
                self.csrf = found.group(1)
        return reply

    def log_in(self, *, email: str, password: str, device) -> None:
        """The real log-in: the password form, then the TOTP code form (django-otp).

        Raises ``BenchRefused`` saying which step failed.
        """
        step = self.request("GET", f"{LOGIN_PATH}?next={REVIEW_QUEUE_PATH}")
        _expect(step, 200, email=email, what="log-in page")
        step = self.request(
            "POST",
            LOGIN_PATH,
            data={"email": email, "password": password, "next": REVIEW_QUEUE_PATH},
        )
        _expect(step, 302, email=email, what="password", location=TWO_FACTOR_PATH)
        step = self.request("GET", step.headers["Location"])
        _expect(step, 200, email=email, what="two-factor page")
        step = self.request(
            "POST", TWO_FACTOR_PATH, data={"code": totp_now(device), "next": REVIEW_QUEUE_PATH}
        )
        _expect(step, 302, email=email, what="TOTP code", location=REVIEW_QUEUE_PATH)


def _location_path(reply: requests.Response) -> str:
    return urlsplit(reply.headers.get("Location", "")).path


def _expect(reply, status: int, *, email: str, what: str, location: str | None = None) -> None:
    if reply.status_code == status and (location is None or _location_path(reply) == location):
        return
    raise BenchRefused(
        f"reviewer {email} could not log in ({what}): {reply.status_code} "
        f"{reply.headers.get('Location', '')} {reply.text[:200]!r}"
    )


def totp_now(device) -> str:
    """The code the reviewer's authenticator app shows now."""
    from django_otp.oath import totp

    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{code:0{device.digits}d}"


@dataclass
class BenchReviewer:
    email: str
    password: str
    device: object  # the confirmed TOTPDevice


def create_reviewers(*, count: int, prefix: str = "bench-reviewer") -> list[BenchReviewer]:
    """IRC reviewers with a random password and a confirmed TOTP device each."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.models import Role, User

    made = []
    for k in range(count):
        password = secrets.token_urlsafe(18)
        user = User.objects.create_user(
            f"{prefix}-{k}@bench.invalid",
            password,
            full_name=f"Bench Reviewer {k}",
            role=Role.IRC_REVIEWER,
        )
        device = TOTPDevice.objects.create(user=user, name="Bench authenticator", confirmed=True)
        made.append(BenchReviewer(email=user.email, password=password, device=device))
    return made


def seed_review_incidents(
    *, area, lat: float, lon: float, pending: int, published: int, publisher_email: str
) -> tuple[list[int], list[int]]:
    """Incidents for the reviewers: ``pending`` in review (as the pipeline leaves them) and
    ``published`` ones (claimed and decided through the review center's services; comments
    go only on published incidents). Returns (pending ids, published ids).
    """
    from apps.accounts.models import User
    from apps.incidents.models import Incident, IncidentStatus
    from apps.incidents.services import incident_number_next
    from apps.review import services as review

    now = dt.datetime.now(dt.UTC)
    ids = []
    for k in range(pending + published):
        # Minutes old: out of the pipeline's reach (it only extends recent incidents).
        first = now - dt.timedelta(minutes=10, seconds=k)
        incident = Incident.objects.create(
            agency=area.agency,
            coverage_area=area,
            number=incident_number_next(agency=area.agency),
            status=IncidentStatus.PENDING_REVIEW,
            first_shot_at=first,
            last_shot_at=first + dt.timedelta(seconds=0.6),
            detected_at=first + dt.timedelta(seconds=2),
            located_at=first + dt.timedelta(seconds=2),
            latitude=lat + 0.001 * k,
            longitude=lon,
            ellipse_major_m=25.0,
            ellipse_minor_m=12.0,
            ellipse_azimuth_deg=40.0,
            origin_latitude=lat,
            origin_longitude=lon,
            rounds=3 if k % 2 else 1,
            n_sensors=6,
            machine_class="gunfire",
            class_probabilities={"gunfire": 0.8, "firework": 0.15, "other": 0.05},
            model_version="bench",
            nearest_address=f"{100 + k} Bench Ave",
        )
        ids.append(incident.pk)
    publisher = User.objects.get(email=publisher_email)
    for incident_id in ids[pending:]:
        review.claim(reviewer=publisher, incident_id=incident_id)
        review.decide(
            reviewer=publisher, incident_id=incident_id, decision="single_gunshot", rounds=1
        )
    return ids[:pending], ids[pending:]


def collect_static(*, env: dict, root: Path) -> None:
    """``collectstatic`` into ``root`` for the services' DEBUG=0 pages (manifest storage)."""
    env["STATIC_ROOT"] = str(root)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )


@dataclass
class ReviewerSeat:
    """A logged-in reviewer: claims and releases its own pending incident, comments on the
    published ones in turn."""

    client: ReviewerClient
    name: str
    claim_id: int
    comment_ids: list[int]


@dataclass
class ReviewResult:
    seconds: float
    latencies_ms: dict = field(default_factory=lambda: {kind: [] for kind in REVIEW_KINDS})
    errors: dict = field(default_factory=lambda: {kind: 0 for kind in REVIEW_KINDS})
    error_samples: list = field(default_factory=list)
    comments: list = field(default_factory=list)  # (incident id, text) acknowledged
    loops: int = 0

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies_ms.values()) + self.error_count

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _review_step(seat: ReviewerSeat, kind: str, method: str, path: str, *, data=None, check):
    """One timed request; returns (ms, None) or (ms, why it is an error)."""
    t0 = time.perf_counter()
    try:
        reply = seat.client.request(method, path, data=data)
    except requests.RequestException as error:
        return (time.perf_counter() - t0) * 1000, f"{kind} {path}: {str(error)[:200]}"
    elapsed = (time.perf_counter() - t0) * 1000
    if not 200 <= reply.status_code < 400:
        return elapsed, f"{kind} {path}: {reply.status_code} {reply.text[:200]!r}"
    wrong = check(reply)
    if wrong:
        where = reply.headers.get("Location", "")
        return elapsed, f"{kind} {path}: {reply.status_code} {where} {wrong}"
    return elapsed, None


def _redirects_to(path: str, why: str):
    return lambda reply: None if _location_path(reply) == path else why


def _shows(marker: str, why: str):
    return lambda reply: None if reply.status_code == 200 and marker in reply.text else why


def run_reviewers(
    *,
    seats: list[ReviewerSeat],
    seconds: float,
    think_s: float,
    stop: threading.Event | None = None,
) -> ReviewResult:
    """Every reviewer loops for ``seconds`` (or until ``stop``), ``think_s`` between requests:
    queue page, claim its incident, its review page, comment on a published incident, that
    page (with the "Comment added." message), release. A non-2xx/3xx reply, or a page or
    redirect other than the expected one (log-in, 2FA, an error message), is an error.
    """
    result = ReviewResult(seconds=seconds)
    lock = threading.Lock()
    stop = stop or threading.Event()
    deadline = time.monotonic() + seconds

    def done() -> bool:
        return stop.is_set() or time.monotonic() >= deadline

    def loop(seat: ReviewerSeat) -> None:
        latencies = {kind: [] for kind in REVIEW_KINDS}
        errors = dict.fromkeys(REVIEW_KINDS, 0)
        samples, comments, loops = [], [], 0
        released_before = False

        def step(kind, method, path, *, data=None, check) -> bool:
            ms, wrong = _review_step(seat, kind, method, path, data=data, check=check)
            if wrong is None:
                latencies[kind].append(ms)
            else:
                errors[kind] += 1
                if len(samples) < 3:
                    samples.append(f"{seat.name}: {wrong}")
            if think_s:
                stop.wait(think_s)
            return wrong is None

        def queue_page(reply):
            if reply.status_code != 200 or QUEUE_MARKER not in reply.text:
                return "not the review queue page"
            if released_before and RELEASED not in reply.text:
                return "the release was not confirmed"
            return None

        claimed_page = f"/review/incident/{seat.claim_id}/"
        while not done():
            step("queue", "GET", REVIEW_QUEUE_PATH, check=queue_page)
            released_before = False
            if done():
                break
            claimed = step(
                "claim",
                "POST",
                f"{claimed_page}claim/",
                check=_redirects_to(claimed_page, "claim refused"),
            )
            step(
                "incident",
                "GET",
                claimed_page,
                check=_shows(HOLDER_MARKER, "claim not shown as held"),
            )
            target = seat.comment_ids[loops % len(seat.comment_ids)]
            target_page = f"/review/incident/{target}/"
            text = f"Bench note from {seat.name}, round {loops}."
            if not done():
                posted = step(
                    "comment",
                    "POST",
                    f"{target_page}comment/",
                    data={"text": text},
                    check=_redirects_to(target_page, "comment refused"),
                )
                shown = step(
                    "incident",
                    "GET",
                    target_page,
                    check=_shows(COMMENT_ADDED, "comment not confirmed"),
                )
                if posted and shown:
                    comments.append((target, text))
            if claimed:  # never leave a claim held, even when the time is up
                released_before = step(
                    "release",
                    "POST",
                    f"{claimed_page}release/",
                    check=_redirects_to(REVIEW_QUEUE_PATH, "release refused"),
                )
            loops += 1
        with lock:
            for kind in REVIEW_KINDS:
                result.latencies_ms[kind].extend(latencies[kind])
                result.errors[kind] += errors[kind]
            result.error_samples.extend(samples[: max(0, 5 - len(result.error_samples))])
            result.comments.extend(comments)
            result.loops += loops

    threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in seats]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - began
    return result
