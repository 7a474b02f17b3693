"""Benchmark the live pipeline end to end: signed HTTP ingest and shot-to-review-queue latency.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python manage.py bench_pipeline \
        [--seconds 30] [--sensors 200] [--batch-size 10] [--shots 50] [--daphne 2]

Creates its own database ``bench_pipeline`` on the configured PostgreSQL server (migrated,
dropped afterwards unless --keep-db) and uses Redis database --redis-db (default 15, emptied
before and after), so it never touches real data. Starts --daphne daphne processes and one
Celery worker (--concurrency=1) as subprocesses with that environment.

(a) Ingest: --sensors virtual sensors, each registered with its own Ed25519 key, post signed
    batches back to back for --seconds (split over the daphne ports); then every pulse
    acknowledged with 202 must be stored exactly once (lost / duplicated counted).
(b) Latency: --shots generated gunshots (acoustic generator, ``single_shot``), each on its
    own replica of the scenario's sensor array in one coverage area; each sensor posts its
    pulses (arrival order, back to back). Latency = the incident's ``detected_at`` minus the
    send time of the last pulse sent before it (the one that made the shot locatable), and
    the time the bench first saw it in the review queue (status pending_review).
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


class _Watcher(threading.Thread):
    """Polls (own DB connection, every 5 ms) until the shot's incident is visible."""

    def __init__(self, *, query, timeout_s: float):
        super().__init__(daemon=True)
        self.query = query
        self.timeout_s = timeout_s
        self.found = None
        self.seen: float | None = None
        self.serials: set[str] = set()

    def run(self) -> None:
        from apps.incidents.models import ShotPulse

        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < deadline:
                found = self.query.order_by("detected_at").first()
                if found is not None:
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
            "--concurrency",
            type=int,
            default=8,
            help="Concurrent requests per daphne process (each holds a DB connection).",
        )
        parser.add_argument("--redis-db", type=int, default=15)
        parser.add_argument("--keep-db", action="store_true")
        parser.add_argument("--skip-ingest", action="store_true")
        parser.add_argument("--skip-latency", action="store_true")
        parser.add_argument(
            "--log-dir", default=str(Path(tempfile.gettempdir()) / "bench_pipeline")
        )

    def handle(self, *args, **opts):
        for name in ("seconds", "sensors", "batch_size", "shots", "seeds", "daphne", "concurrency"):
            if opts[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be positive.")
        if not 0 <= opts["redis_db"] <= 15:
            raise CommandError("--redis-db must be 0..15.")
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
        )
        try:
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
        self.stdout.write(
            f"Ingest: {n} sensors posting batches of {opts['batch_size']} for "
            f"{opts['seconds']:.0f} s ..."
        )
        result = bench.run_ingest(
            sensors=sensors, seconds=opts["seconds"], batch_size=opts["batch_size"]
        )
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
            ("daphne processes / Celery workers", f"{len(ports)} / 1 (concurrency 1)"),
            ("duration", f"{result.seconds:.1f} s"),
            ("batches accepted (202)", f"{result.requests_ok}"),
            ("pulses accepted", f"{len(result.acked_uuids)}"),
            ("pulses/s accepted", f"{rate:,.0f}  (target >= 2,000)"),
            ("request p50 / p95 / max", self._pcts(result.latencies_ms)),
            ("errors (refused or failed requests)", f"{result.errors}"),
            ("batches never acknowledged", f"{len(result.unacked_uuids) // opts['batch_size']}"),
            ("pulse rows stored", f"{len(stored)}"),
            ("lost (acknowledged, not stored)", f"{len(lost)}"),
            ("duplicated (rows - distinct uuids)", f"{duplicated}"),
            ("stored but never sent", f"{len(unexpected)}"),
        ]
        self._table(rows)
        for sample in result.error_samples:
            self.stdout.write(f"  error sample: {sample}")
        self._drain(area=area, label="ingest")

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
        measured, observed, missing, filtered, sensors_needed = [], [], 0, 0, []
        for sc, sensors, clat, clon, area in replicas:
            by_sensor: dict[str, list] = {}
            for pulse in sorted(sc.pulses, key=lambda p: p.t):
                by_sensor.setdefault(pulse.sensor_id, []).append(pulse)
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
            watcher.join()
            if refused:
                raise CommandError(f"latency shot refused: {refused[0]}")
            found, seen = watcher.found, watcher.seen
            if found is None:
                missing += 1
                continue
            if found.status == IncidentStatus.FILTERED:
                filtered += 1
                continue
            used = sorted(sends[serial] for serial in watcher.serials if serial in sends)
            if not used:
                missing += 1
                continue
            reference = used[min(MIN_SENSORS, len(used)) - 1]
            detected = found.detected_at.timestamp()
            sensors_needed.append(sum(1 for t in sends.values() if t <= detected))
            measured.append((detected - reference) * 1000)
            observed.append((seen - reference) * 1000)
            time.sleep(0.3)
        needed = f"{sorted(sensors_needed)[len(sensors_needed) // 2]}" if sensors_needed else "-"
        self.stdout.write("")
        self.stdout.write(
            f"(b) {MIN_SENSORS}th participating sensor's pulse sent -> incident in the review queue"
        )
        self._table(
            [
                ("shots posted (real-time arrivals)", f"{shots}"),
                ("in review queue (pending_review)", f"{len(measured)}"),
                ("filtered by the classifier", f"{filtered}"),
                ("no incident within 20 s", f"{missing}"),
                ("sensors posted before the creating run (p50)", needed),
                ("visible in queue - send: p50/p95/max", self._pcts(observed) + "  (p95 <= 250)"),
                ("run start (detected_at) - send: p50/p95/max", self._pcts(measured)),
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
