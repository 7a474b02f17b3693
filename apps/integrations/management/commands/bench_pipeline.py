"""Benchmark the live pipeline end to end: signed HTTP ingest and shot-to-review-queue latency.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python manage.py bench_pipeline \
        [--seconds 30] [--sensors 200] [--batch-size 10] [--shots 50] [--daphne 2] \
        [--reviewers 5] [--reviewer-think-ms 500]

Creates its own database ``bench_pipeline`` on the configured PostgreSQL server (migrated,
dropped afterwards unless --keep-db) and uses Redis database --redis-db (default 15, emptied
before and after), so it never touches real data. Starts --daphne daphne processes and one
Celery worker (--worker-concurrency pool processes, 2 as `make worker` runs it, at
--worker-nice) as subprocesses with that environment.

(a) Ingest: --sensors virtual sensors, each registered with its own Ed25519 key, post signed
    batches back to back for --seconds (split over the daphne ports); then every pulse
    acknowledged with 202 must be stored exactly once (lost / duplicated counted). With
    --rate-per-sensor R the sensors behave like the reference agent under a steady load
    instead: each detects R pulses per second and posts what it has once a second (at
    most 200); the load offered is sensors x R, and what was detected but not yet
    acknowledged at the end is the sensors' backlog.
    Meanwhile --reviewers IRC reviewers (real users, logged in through the log-in and TOTP
    forms, so every request passes the 2FA middleware) work the Incident Review Center on
    the same daphne processes: queue page, claim, review page, comment on a published
    incident, release, --reviewer-think-ms between requests. Their requests per second,
    latency per request kind and errors are printed beside the ingest figures.
(b) Latency: --shots generated gunshots (acoustic generator, ``single_shot``), each on its
    own replica of the scenario's sensor array in one coverage area; each sensor posts its
    pulses when its last pulse has arrived (real time). The post that makes the shot
    locatable is found offline with the pipeline's own association (same speed of sound and
    wind) on the pulses posted so far; latency runs from that post's send time to the
    moment the bench first sees the incident in the review queue (status pending_review),
    also when it was created filtered (classified on its first few sensors) and a later run
    promoted it; only incidents still not in the queue 5 s after the last post count as
    filtered. The latency from the 4th participating sensor's post is printed too: the difference is
    how many more sensors the association needs amid the scenario's echoes.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from apps.integrations import benchmark as bench

CENTRE = (40.6936, -89.5890)  # the demo city
INGEST_CENTRE = (41.10, -89.59)  # 45 km north: its own coverage area
# A shot is locatable from this many sensors' pulses (2D position and emission time plus
# one redundant arrival); latency runs from the post of the MIN_SENSORS-th of them.
MIN_SENSORS = 4


def _square(frame, half_m: float) -> dict:
    ring = []
    for sx, sy in [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]:
        lat, lon, _ = frame.to_wgs84([sx * half_m, sy * half_m, 0.0])
        ring.append([float(lon), float(lat)])
    return {"type": "Polygon", "coordinates": [ring]}


def _locating_post(by_sensor: dict[str, list]) -> str | None:
    """The sensor whose post first makes the shot locatable by the pipeline's association.

    Sensors post in the order their last pulse arrives; the pulses posted so far are
    associated exactly as a pipeline run would (its speed of sound and wind, 2.5D).
    """
    from apps.acoustics.association import AssociationError, associate
    from apps.acoustics.sound import speed_of_sound, weather_wind
    from apps.incidents.pipeline import pipeline_weather

    weather = pipeline_weather()
    c, wind = speed_of_sound(weather.temperature_c), weather_wind(weather)
    order = sorted(by_sensor, key=lambda sid: by_sensor[sid][-1].t)
    for k in range(MIN_SENSORS, len(order) + 1):
        pulses = [p for sid in order[:k] for p in by_sensor[sid]]
        try:
            if associate(pulses, c=c, wind_xy=wind, source_z=None):
                return order[k - 1]
        except AssociationError:
            continue  # too few sensors for the echoes around them yet
    return None


class _Watcher(threading.Thread):
    """Polls (own DB connection, every 5 ms) until the shot's incident is in the review queue.

    ``first_status`` is the status the incident had when it was first seen: an incident
    created as filtered (too few sensors yet for the classifier) and promoted by a later
    run counts from the moment it entered the queue. ``found`` stays None if it never did
    within the timeout (``first_status`` then tells whether it existed at all).
    """

    def __init__(self, *, query, timeout_s: float):
        super().__init__(daemon=True)
        self.query = query
        self.timeout_s = timeout_s
        self.found = None
        self.first_status: str | None = None
        self.seen: float | None = None
        self.serials: set[str] = set()
        self.settle_by = math.inf  # the bench sets it once every sensor has posted

    def run(self) -> None:
        from apps.incidents.models import IncidentStatus, ShotPulse

        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < min(deadline, self.settle_by):
                found = self.query.order_by("detected_at").first()
                if found is not None and self.first_status is None:
                    self.first_status = found.status
                if found is not None and found.status == IncidentStatus.PENDING_REVIEW:
                    self.found, self.seen = found, time.time()
                    self.serials = set(
                        ShotPulse.objects.filter(shot__incident=found).values_list(
                            "sensor__serial_number", flat=True
                        )
                    )
                    return
                time.sleep(0.005)
        finally:
            connections.close_all()


class _Reviewers(threading.Thread):
    """Runs ``bench.run_reviewers`` beside the ingest; ``finish`` stops it and returns the
    result (None when there are no reviewers)."""

    def __init__(self, *, seats: list, seconds: float, think_s: float):
        super().__init__(daemon=True)
        self.seats, self.seconds, self.think_s = seats, seconds, think_s
        self.stop = threading.Event()
        self.result = None

    def run(self) -> None:
        if not self.seats:
            return
        try:
            self.result = bench.run_reviewers(
                seats=self.seats, seconds=self.seconds, think_s=self.think_s, stop=self.stop
            )
        finally:
            connections.close_all()

    def finish(self):
        self.stop.set()
        self.join()
        return self.result


class Command(BaseCommand):
    help = "Pipeline benchmark: sustained signed ingest and shot-to-review-queue latency."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=30.0)
        parser.add_argument("--sensors", type=int, default=200)
        parser.add_argument("--batch-size", type=int, default=10)
        parser.add_argument("--shots", type=int, default=50)
        parser.add_argument("--seeds", type=int, default=10, help="Distinct scenarios.")
        parser.add_argument("--daphne", type=int, default=2, help="daphne processes.")
        parser.add_argument(
            "--rate-per-sensor",
            type=float,
            default=None,
            help="Offered load: pulses per second each sensor detects and posts once a second "
            "(the reference agent); default: batches of --batch-size back to back.",
        )
        parser.add_argument(
            "--worker-concurrency",
            type=int,
            default=2,
            help="Pool processes of the one Celery worker (2: as `make worker` runs it).",
        )
        parser.add_argument(
            "--worker-nice",
            type=int,
            default=10,
            help="The Celery worker's nice level (10: as `make worker` runs it, below daphne).",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=8,
            help="Concurrent requests per daphne process (each holds a DB connection).",
        )
        parser.add_argument(
            "--reviewers",
            type=int,
            default=5,
            help="IRC reviewers working the review center during the ingest (0: none).",
        )
        parser.add_argument(
            "--reviewer-think-ms",
            type=float,
            default=500.0,
            help="Pause of each reviewer between two requests (0: back to back).",
        )
        parser.add_argument("--redis-db", type=int, default=15)
        parser.add_argument("--keep-db", action="store_true")
        parser.add_argument("--skip-ingest", action="store_true")
        parser.add_argument("--skip-latency", action="store_true")
        parser.add_argument(
            "--log-dir", default=str(Path(tempfile.gettempdir()) / "bench_pipeline")
        )

    def handle(self, *args, **opts):
        for name in (
            "seconds",
            "sensors",
            "batch_size",
            "shots",
            "seeds",
            "daphne",
            "concurrency",
            "worker_concurrency",
        ):
            if opts[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be positive.")
        if opts["reviewers"] < 0 or opts["reviewer_think_ms"] < 0:
            raise CommandError("--reviewers and --reviewer-think-ms must be >= 0.")
        if not 0 <= opts["redis_db"] <= 15:
            raise CommandError("--redis-db must be 0..15.")
        if opts["rate_per_sensor"] is not None and not 0 < opts["rate_per_sensor"] <= 200:
            raise CommandError("--rate-per-sensor must be in (0, 200].")
        if not 0 <= opts["worker_nice"] <= 19:
            raise CommandError("--worker-nice must be 0..19.")
        try:
            bench.check_environment(databases=settings.DATABASES, redis_url=settings.REDIS_URL)
        except bench.BenchRefused as refusal:
            raise CommandError(str(refusal)) from None
        import redis

        source = dict(settings.DATABASES["default"])
        redis_url = bench.redis_url_with_db(settings.REDIS_URL, opts["redis_db"])
        redis_client = redis.Redis.from_url(redis_url)
        redis_client.flushdb()
        self.stdout.write(f"Creating database {bench.BENCH_DB!r} and migrating it ...")
        bench.recreate_database(source, bench.BENCH_DB)
        self._use_bench_database()
        call_command("migrate", verbosity=0, interactive=False)
        services = bench.Services(
            env=bench.service_env(
                database=bench.database_url(source, bench.BENCH_DB),
                redis_url=redis_url,
                concurrency=opts["concurrency"],
            ),
            log_dir=Path(opts["log_dir"]),
            daphnes=opts["daphne"],
            worker_nice=opts["worker_nice"],
            worker_concurrency=opts["worker_concurrency"],
        )
        try:
            if opts["reviewers"] and not opts["skip_ingest"]:
                # The review pages run with DEBUG=0: static files come from a manifest.
                self.stdout.write("Collecting static files for the review pages ...")
                bench.collect_static(env=services.env, root=Path(opts["log_dir"]) / "static")
            self.stdout.write(
                f"Starting {opts['daphne']} daphne process(es) and one Celery worker ..."
            )
            services.start()
            self.stdout.write(f"  daphne ports {services.ports}; logs in {opts['log_dir']}")
            from apps.accounts.models import Agency

            agency = Agency.objects.create(system_id="901", name="Bench Police Department")
            if not opts["skip_ingest"]:
                self._ingest(agency=agency, ports=services.ports, opts=opts)
            if not opts["skip_latency"]:
                self._latency(agency=agency, ports=services.ports, opts=opts)
        finally:
            services.stop()
            connections.close_all()
            if not opts["keep_db"]:
                bench.recreate_database(source, bench.BENCH_DB, drop_only=True)
            redis_client.flushdb()

    # --- set-up ---------------------------------------------------------------------------

    def _use_bench_database(self) -> None:
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = bench.BENCH_DB
        connections["default"].settings_dict["NAME"] = bench.BENCH_DB

    def _register(self, *, agency, area, serial, lat, lon, elevation):
        from apps.sensors.services import sensor_register

        key, public = bench.new_key()
        sensor = sensor_register(
            agency=agency,
            serial=serial,
            latitude=lat,
            longitude=lon,
            elevation_m=elevation,
            public_key=public,
            coverage_area=area,
        )
        return sensor, key

    # --- (a) ingest -------------------------------------------------------------------------

    def _ingest(self, *, agency, ports, opts) -> None:
        from apps.acoustics.geometry import LocalFrame
        from apps.geo.models import CoverageArea
        from apps.sensors.models import SensorPulse

        n = opts["sensors"]
        frame = LocalFrame(origin_lat_deg=INGEST_CENTRE[0], origin_lon_deg=INGEST_CENTRE[1])
        side = math.ceil(math.sqrt(n))
        spacing = 1000.0
        area = CoverageArea.objects.create(
            agency=agency, name="Bench ingest", boundary=_square(frame, side * spacing)
        )
        self.stdout.write(f"Registering {n} ingest sensors (one Ed25519 key each) ...")
        sensors = []
        for k in range(n):
            x = (k % side - side / 2) * spacing
            y = (k // side - side / 2) * spacing
            lat, lon, _ = frame.to_wgs84([x, y, 150.0])
            sensor, key = self._register(
                agency=agency,
                area=area,
                serial=f"ING-{k:04d}",
                lat=float(lat),
                lon=float(lon),
                elevation=150.0,
            )
            sensors.append(
                bench.VirtualSensor(
                    serial=sensor.serial_number,
                    key=key,
                    base_url=f"http://127.0.0.1:{ports[k % len(ports)]}",
                )
            )
        seats = self._reviewer_seats(area=area, ports=ports, count=opts["reviewers"])
        self.stdout.write(
            f"Ingest: {n} sensors posting batches of {opts['batch_size']} for "
            f"{opts['seconds']:.0f} s ..."
            if opts["rate_per_sensor"] is None
            else f"Ingest: {n} sensors detecting {opts['rate_per_sensor']:g} pulses/s each "
            f"({n * opts['rate_per_sensor']:,.0f} pulses/s offered), posting once a second, "
            f"for {opts['seconds']:.0f} s ..."
        )
        reviewing = _Reviewers(
            seats=seats, seconds=opts["seconds"], think_s=opts["reviewer_think_ms"] / 1000
        )
        reviewing.start()
        result = bench.run_ingest(
            sensors=sensors,
            seconds=opts["seconds"],
            batch_size=opts["batch_size"],
            rate_per_sensor=opts["rate_per_sensor"],
        )
        review = reviewing.finish()
        stored = list(
            SensorPulse.objects.filter(sensor__coverage_area=area).values_list(
                "pulse_uuid", flat=True
            )
        )
        stored_set = {str(u) for u in stored}
        lost = result.acked_uuids - stored_set
        duplicated = len(stored) - len(stored_set)
        unexpected = stored_set - result.acked_uuids - result.unacked_uuids
        rate = len(result.acked_uuids) / result.seconds
        self.stdout.write("")
        self.stdout.write("(a) Sustained ingest")
        rows = [
            ("sensors posting concurrently", f"{n}"),
            (
                "daphne processes / Celery workers",
                f"{len(ports)} / 1 (concurrency {opts['worker_concurrency']}, "
                f"nice {opts['worker_nice']})",
            ),
            ("duration", f"{result.seconds:.1f} s"),
            ("batches accepted (202)", f"{result.requests_ok}"),
            ("pulses accepted", f"{len(result.acked_uuids)}"),
            ("pulses/s accepted, whole run", f"{rate:,.0f}"),
            (
                "pulses/s accepted, second half (steady state)",
                f"{result.steady_rate():,.0f}  (target >= 2,000)",
            ),
            *(
                [
                    ("pulses/s offered", f"{n * opts['rate_per_sensor']:,.0f}"),
                    (
                        "pulses per batch p50 / max",
                        f"{bench.percentile(result.batch_sizes, 0.5):.0f} / "
                        f"{max(result.batch_sizes, default=0)}",
                    ),
                    ("sensors' backlog at the end (pulses)", f"{result.backlog}"),
                ]
                if opts["rate_per_sensor"] is not None
                else []
            ),
            ("request p50 / p95 / max", self._pcts(result.latencies_ms)),
            ("errors (refused or failed requests)", f"{result.errors}"),
            ("pulses never acknowledged", f"{len(result.unacked_uuids)}"),
            ("pulse rows stored", f"{len(stored)}"),
            ("lost (acknowledged, not stored)", f"{len(lost)}"),
            ("duplicated (rows - distinct uuids)", f"{duplicated}"),
            ("stored but never sent", f"{len(unexpected)}"),
        ]
        self._table(rows)
        for sample in result.error_samples:
            self.stdout.write(f"  error sample: {sample}")
        self._drain(area=area, label="ingest")
        if review is not None:
            self._review_table(
                review=review,
                seats=seats,
                ports=ports,
                think_ms=opts["reviewer_think_ms"],
                ingest_rows=[
                    ("ingest meanwhile: pulses/s accepted", f"{rate:,.0f}"),
                    ("ingest meanwhile: lost / duplicated", f"{len(lost)} / {duplicated}"),
                ],
            )

    # --- (a) reviewers during the ingest ----------------------------------------------------

    def _reviewer_seats(self, *, area, ports, count: int) -> list:
        """``count`` reviewers logged in over HTTP (password, then TOTP), one pending
        incident each to claim and a few published ones to comment on."""
        if not count:
            return []
        self.stdout.write(f"Logging in {count} IRC reviewers (password + TOTP over HTTP) ...")
        reviewers = bench.create_reviewers(count=count)
        pending, published = bench.seed_review_incidents(
            area=area,
            lat=INGEST_CENTRE[0],
            lon=INGEST_CENTRE[1],
            pending=count,
            published=min(3, count),
            publisher_email=reviewers[0].email,
        )
        seats = []
        for k, reviewer in enumerate(reviewers):
            client = bench.ReviewerClient(base_url=f"http://127.0.0.1:{ports[k % len(ports)]}")
            try:
                client.log_in(
                    email=reviewer.email, password=reviewer.password, device=reviewer.device
                )
            except bench.BenchRefused as refusal:
                raise CommandError(str(refusal)) from None
            seats.append(
                bench.ReviewerSeat(
                    client=client,
                    name=f"reviewer {k}",
                    claim_id=pending[k],
                    comment_ids=published[k % len(published) :] + published[: k % len(published)],
                )
            )
        return seats

    def _review_table(self, *, review, seats, ports, think_ms: float, ingest_rows) -> None:
        from apps.review.models import HistoryKind, IncidentHistory, ReviewClaim

        published = {i for seat in seats for i in seat.comment_ids}
        stored = IncidentHistory.objects.filter(
            kind=HistoryKind.COMMENT, incident_id__in=published
        ).count()
        held = ReviewClaim.objects.filter(incident_id__in=[s.claim_id for s in seats]).count()
        rows = [
            ("reviewers (log-in + TOTP, real 2FA middleware)", f"{len(seats)}"),
            ("daphne processes shared with the sensors", f"{len(ports)}"),
            ("pause between a reviewer's requests", f"{think_ms:.0f} ms"),
            ("duration", f"{review.seconds:.1f} s"),
            ("reviewer loops completed", f"{review.loops}"),
            ("reviewer requests", f"{review.requests}"),
            ("reviewer requests/s", f"{review.requests / max(review.seconds, 1e-6):.1f}"),
        ]
        for kind in bench.REVIEW_KINDS:
            done = review.latencies_ms[kind]
            rows.append(
                (
                    f"{bench.REVIEW_KIND_LABELS[kind]} ({len(done)}): p50/p95/max",
                    self._pcts(done),
                )
            )
        rows += [
            ("errors (non-2xx/3xx or wrong page)", f"{review.error_count}"),
            ("comments acknowledged / stored", f"{len(review.comments)} / {stored}"),
            ("claims still held after the run", f"{held}"),
            *ingest_rows,
        ]
        self.stdout.write("")
        self.stdout.write("(a) Reviewers working the Incident Review Center during the ingest")
        self._table(rows)
        for sample in review.error_samples:
            self.stdout.write(f"  reviewer error sample: {sample}")

    def _drain(self, *, area, label: str, timeout_s: float = 60.0) -> None:
        from apps.sensors.models import SensorPulse

        began = time.monotonic()
        areas = area if isinstance(area, list) else [area]
        pending = SensorPulse.objects.filter(coverage_area__in=areas, processed_at__isnull=True)
        waiting = pending.count()
        while waiting and time.monotonic() - began < timeout_s:
            time.sleep(0.5)
            waiting = pending.count()
        self.stdout.write(
            f"  pipeline backlog after {label}: "
            + (
                f"drained in {time.monotonic() - began:.1f} s"
                if not waiting
                else f"{waiting} pulses still unprocessed after {timeout_s:.0f} s"
            )
        )

    # --- (b) latency ------------------------------------------------------------------------

    def _latency(self, *, agency, ports, opts) -> None:
        from apps.acoustics.generator import Options, generate_scenario
        from apps.acoustics.geometry import LocalFrame
        from apps.geo.models import CoverageArea
        from apps.incidents.models import Incident, IncidentStatus

        shots = opts["shots"]
        seeds = min(opts["seeds"], shots)
        self.stdout.write(f"Generating {seeds} single-shot scenarios ...")
        options = Options(distractors=False, array_size=7)
        scenarios = [
            generate_scenario(kind="single_shot", seed=seed, options=options)
            for seed in range(seeds)
        ]
        cells = math.ceil(math.sqrt(shots))
        cell_m = 4000.0
        frame = LocalFrame(origin_lat_deg=CENTRE[0], origin_lon_deg=CENTRE[1])
        areas = []
        replicas = []
        self.stdout.write(f"Registering {shots} sensor arrays (one per shot) ...")
        for i in range(shots):
            sc = scenarios[i % seeds]
            cx = (i % cells - (cells - 1) / 2) * cell_m
            cy = (i // cells - (cells - 1) / 2) * cell_m
            heard = {p.sensor_id for p in sc.pulses}
            cell_frame = LocalFrame(
                origin_lat_deg=float(frame.to_wgs84([cx, cy, 0.0])[0]),
                origin_lon_deg=float(frame.to_wgs84([cx, cy, 0.0])[1]),
            )
            # One coverage area per shot: a run sees only its own shot's pulses (a city's
            # areas are independent), so shots do not share a sliding window.
            area = CoverageArea.objects.create(
                agency=agency, name=f"Bench cell {i:03d}", boundary=_square(cell_frame, cell_m / 2)
            )
            areas.append(area)
            sensors = {}
            for record in sc.truth["sensors"]:
                if record["serial_number"] not in heard:
                    continue
                lat, lon, h = frame.to_wgs84(
                    [cx + record["x"], cy + record["y"], 150.0 + record["z"]]
                )
                sensor, key = self._register(
                    agency=agency,
                    area=area,
                    serial=f"LAT{i:03d}-{record['serial_number']}",
                    lat=float(lat),
                    lon=float(lon),
                    elevation=float(h),
                )
                sensors[record["serial_number"]] = bench.VirtualSensor(
                    serial=sensor.serial_number,
                    key=key,
                    base_url=f"http://127.0.0.1:{ports[i % len(ports)]}",
                )
            clat, clon, _ = frame.to_wgs84([cx, cy, 0.0])
            replicas.append((sc, sensors, float(clat), float(clon), area))

        self.stdout.write(f"Latency: {shots} shots, one at a time ...")
        measured, observed, from_fourth, missing, filtered, promoted = [], [], [], 0, 0, 0
        sensors_needed, never_locatable = [], 0
        for sc, sensors, clat, clon, area in replicas:
            by_sensor: dict[str, list] = {}
            for pulse in sorted(sc.pulses, key=lambda p: p.t):
                by_sensor.setdefault(pulse.sensor_id, []).append(pulse)
            locating_sensor = _locating_post(by_sensor)
            if locating_sensor is None:
                never_locatable += 1
                continue
            first_t = min(p.t for p in sc.pulses)
            # Real time: each sensor posts when its (last) pulse has arrived, as agents do.
            shift = time.time() + 0.1 - first_t
            began = dt.datetime.now(dt.UTC)
            box = 0.02
            query = Incident.objects.filter(
                coverage_area=area,
                detected_at__gte=began - dt.timedelta(seconds=1),
                latitude__range=(clat - box, clat + box),
                longitude__range=(clon - box, clon + box),
            )
            watcher = _Watcher(query=query, timeout_s=20.0)
            watcher.start()
            sends: dict[str, float] = {}
            refused: list[str] = []

            def post(sid, _by=by_sensor, _shift=shift, _sensors=sensors, _sends=sends, _no=refused):
                at = _by[sid][-1].t + _shift
                time.sleep(max(0.0, at - time.time()))
                body = [
                    {
                        "pulse_uuid": str(uuid.uuid4()),
                        "arrival_time_utc": bench.utc_text(p.t + _shift),
                        "power_db_spl": max(0.0, float(p.power_db_spl)),
                        "signal_to_noise_db": float(p.snr_db),
                        "features": dict(p.features.get("features", p.features)),
                    }
                    for p in _by[sid]
                ]
                sent = time.time()
                reply = _sensors[sid].post(body)
                if reply.status_code != 202:
                    _no.append(f"{reply.status_code} {reply.text[:200]}")
                _sends[_sensors[sid].serial] = sent

            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(post, by_sensor))
            # Every pulse is in: what is not in the queue 5 s later stays filtered.
            watcher.settle_by = time.monotonic() + 5.0
            watcher.join()
            if refused:
                raise CommandError(f"latency shot refused: {refused[0]}")
            found, seen = watcher.found, watcher.seen
            if found is None:
                if watcher.first_status == IncidentStatus.FILTERED:
                    filtered += 1
                else:
                    missing += 1
                continue
            used = sorted(sends[serial] for serial in watcher.serials if serial in sends)
            if not used:
                missing += 1
                continue
            reference = sends[sensors[locating_sensor].serial]
            fourth = used[min(MIN_SENSORS, len(used)) - 1]
            sensors_needed.append(sum(1 for t in sends.values() if t <= reference))
            if watcher.first_status == IncidentStatus.PENDING_REVIEW:
                measured.append((found.detected_at.timestamp() - reference) * 1000)
            else:
                promoted += 1
            observed.append((seen - reference) * 1000)
            from_fourth.append((seen - fourth) * 1000)
            time.sleep(0.3)
        needed = f"{sorted(sensors_needed)[len(sensors_needed) // 2]}" if sensors_needed else "-"
        self.stdout.write("")
        self.stdout.write("(b) Post that makes the shot locatable -> incident in the review queue")
        self._table(
            [
                ("shots posted (real-time arrivals)", f"{shots}"),
                ("not locatable from all their pulses", f"{never_locatable}"),
                ("in review queue (pending_review)", f"{len(observed)}"),
                ("  of them created filtered, promoted by a later run", f"{promoted}"),
                (
                    "filtered by the classifier (not in the queue 5 s after the last post)",
                    f"{filtered}",
                ),
                ("no incident within 20 s", f"{missing}"),
                ("sensors posted when locatable (p50)", needed),
                ("in queue - locating post: p50/p95/max", f"{self._pcts(observed)}  (p95 <= 250)"),
                (
                    "creating run start - locating post, created in review: p50/p95/max",
                    self._pcts(measured),
                ),
                (f"in queue - {MIN_SENSORS}th sensor's post: p50/p95/max", self._pcts(from_fourth)),
            ]
        )
        self._drain(area=areas, label="latency")

    # --- output -----------------------------------------------------------------------------

    @staticmethod
    def _pcts(values: list[float]) -> str:
        if not values:
            return "-"
        return (
            f"{bench.percentile(values, 0.5):.0f} / {bench.percentile(values, 0.95):.0f} / "
            f"{max(values):.0f} ms"
        )

    def _table(self, rows: list[tuple[str, str]]) -> None:
        width = max(len(name) for name, _ in rows)
        self.stdout.write("  " + "-" * (width + 30))
        for name, value in rows:
            self.stdout.write(f"  {name:<{width}}  {value}")
        self.stdout.write("  " + "-" * (width + 30))
