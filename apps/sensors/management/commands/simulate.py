"""City simulator: virtual sensors across the demo city, driven through the real sensor API.

    python manage.py simulate                       # random events for ever (real time)
    python manage.py simulate --once single_shot    # one event, then exit
    python manage.py simulate --count 10 --speed 20 --seed 7
    python manage.py simulate --replay-chicago      # the real Chicago clips first

Registers (or reuses) 16 virtual sensors on a ~400 m grid in the agency's coverage area
(keys and agent data in ``.simulator/``), then plays scenarios from the acoustic
generator through each sensor's own agent (signed batches, outbox, ring buffer, audio
requests) against ``--server``. The server must use the same database as this command
(the sensors are registered here).
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path

import numpy as np
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Agency
from apps.acoustics.generator import SCENARIO_KINDS
from apps.acoustics.types import Weather
from apps.geo.models import CoverageArea
from apps.sensor_agent.agent import AgentError
from apps.sensor_agent.config import ConfigError, check_server_url
from apps.sensors import services
from apps.sensors.models import Sensor, SensorStatus
from apps.sensors.server_key import server_public_key_pem
from apps.sensors.signing import (
    generate_private_key,
    load_private_key_pem,
    private_key_pem,
    public_key_b64,
)
from apps.sensors.simulation import (
    SCENARIO_MIX,
    SensorSite,
    SimulationError,
    Simulator,
    VirtualSensor,
    chicago_incidents,
    city_grid,
    make_agent,
    render_event,
    replay_sites,
)

# The simulator's lines go through logging like the server's (timestamped, flushed at once),
# so on make run's shared console they come out in time order.
logger = logging.getLogger("simulator")

DEFAULT_DATA_DIR = Path(settings.BASE_DIR) / ".simulator"
DEFAULT_CHICAGO = (
    Path(
        os.environ.get(
            "SHOTSPOTTER_SHARED_DATA", Path(settings.BASE_DIR).parent / "shared" / "data"
        )
    )
    / "chicago-audio"
)


# The longest pause between two events, in multiples of --interval (an exponential draw
# with a 45 s mean exceeds 135 s once in 20 events and reached 4 minutes under make run).
MAX_PAUSE_FACTOR = 3.0


def event_pause_s(rng: random.Random, *, mean_s: float, max_s: float, speed: float) -> float:
    """Seconds between the end of one event and the next: exponential with mean ``mean_s``,
    at most ``max_s``, both divided by ``speed``."""
    return min(rng.expovariate(1.0 / mean_s), max_s) / speed


def positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Drive virtual sensors across the demo city through the real signed sensor API."

    def add_arguments(self, parser):
        parser.add_argument("--server", default="http://127.0.0.1:8000", help="Server URL.")
        parser.add_argument("--agency", default="42", help="System id of the agency (demo: 42).")
        parser.add_argument("--coverage-area", help="Coverage area name (default: the first).")
        parser.add_argument("--sensors", type=int, default=16, help="Number of virtual sensors.")
        parser.add_argument("--spacing", type=positive, default=400.0, help="Metres apart.")
        parser.add_argument(
            "--once",
            choices=SCENARIO_KINDS,
            metavar="SCENARIO",
            help=f"Play one event of this kind and exit ({', '.join(SCENARIO_KINDS)}).",
        )
        parser.add_argument("--count", type=int, help="Play this many events, then exit.")
        parser.add_argument(
            "--interval",
            type=positive,
            default=45.0,
            help="Typical pause between events in seconds: random (exponential with this "
            "mean), cut at --max-pause. The first event starts at once (after a Chicago "
            "replay, once its --gap has passed).",
        )
        parser.add_argument(
            "--max-pause",
            type=positive,
            metavar="SECONDS",
            help="Longest pause between events (default: 3 x --interval), so a rare "
            "long draw does not leave the city silent for minutes.",
        )
        parser.add_argument(
            "--gap",
            type=positive,
            default=15.0,
            help="Seconds of quiet at least between two events (they never overlap).",
        )
        parser.add_argument(
            "--speed",
            type=positive,
            default=1.0,
            help="1 = real time; faster plays each event at once and shortens the pauses.",
        )
        parser.add_argument("--seed", type=int, help="Random seed (events, kinds, pauses).")
        parser.add_argument(
            "--replay-chicago",
            nargs="?",
            const=str(DEFAULT_CHICAGO),
            metavar="DIR",
            help="First replay the real Chicago clips (default ../shared/data/chicago-audio).",
        )
        parser.add_argument(
            "--linger",
            type=float,
            default=30.0,
            help="With --once/--count: keep answering audio requests this long at the end.",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=0.0,
            help="Wait up to this many seconds for the server to come up (e.g. in make run).",
        )
        parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
        parser.add_argument(
            "--server-public-key",
            type=Path,
            metavar="FILE",
            help="The server's public key the agents trust for audio requests (default: "
            "this installation's own, SERVER_SIGNING_KEY_FILE or the development key).",
        )
        parser.add_argument(
            "--allow-insecure-http",
            action="store_true",
            help="Let the agents use a plain http --server that is not on this machine "
            "(make run's development server; audio requests are still signed).",
        )
        parser.add_argument(
            "--retention-hours",
            type=positive,
            default=1.0,
            help="Ring buffer retention of the virtual sensors (at most 72).",
        )

    # --- set-up ---------------------------------------------------------------------------------

    def handle(self, *args, **options):
        # The simulator reports its agents' deliveries (a summary line every 30 s) and audio
        # answers itself; the agents' own INFO line per batch and per answer would repeat
        # them. Their warnings and errors (deliveries that failed, refusals) still show.
        agent_logger = logging.getLogger("sensor_agent")
        agent_level = agent_logger.level
        agent_logger.setLevel(max(agent_level, logging.WARNING))
        try:
            self._simulate(options)
        finally:
            agent_logger.setLevel(agent_level)

    def _simulate(self, options) -> None:
        self.verbosity = options["verbosity"]
        server = options["server"].rstrip("/")
        if options["count"] is not None and options["count"] < 0:
            raise CommandError("--count must be 0 or more.")
        if not 0 < options["retention_hours"] <= 72:
            raise CommandError("--retention-hours must be more than 0 and at most 72.")
        try:
            check_server_url(server, allow_insecure_http=options["allow_insecure_http"])
        except ConfigError as error:
            raise CommandError(f"--server: {error}") from None
        self._check_server(server, wait_s=options["wait"])
        self.server_key_path = self._server_public_key(options)
        # The simulated air is the air the server's pipeline assumes (no weather feed yet).
        self.weather = Weather(
            temperature_c=float(getattr(settings, "PIPELINE_TEMPERATURE_C", 15.0)),
            wind_speed_ms=float(getattr(settings, "PIPELINE_WIND_SPEED_MS", 0.0)),
            wind_from_deg=float(getattr(settings, "PIPELINE_WIND_FROM_DEG", 0.0)),
        )
        agency = Agency.objects.filter(system_id=options["agency"]).first()
        if agency is None:
            raise CommandError(
                f"No agency with system id {options['agency']!r}. Load the demo city first: "
                "python manage.py seed_demo"
            )
        areas = CoverageArea.objects.filter(agency=agency).order_by("name", "pk")
        if options["coverage_area"]:
            areas = areas.filter(name=options["coverage_area"])
        area = areas.first()
        if area is None:
            raise CommandError(f"Agency {agency.system_id} has no such coverage area.")
        try:
            frame, sites = city_grid(
                boundary=area.boundary,
                prefix=f"SIM-{agency.system_id}",
                count=options["sensors"],
                spacing_m=options["spacing"],
            )
        except SimulationError as error:
            raise CommandError(str(error)) from error

        data_dir: Path = options["data_dir"]
        rng = random.Random(options["seed"])
        sensors = self._virtual_sensors(agency, sites, server=server, options=options)
        logger.info(
            f"Simulating {len(sensors)} sensors in {area.name} ({agency.name}) against {server}; "
            f"agent data in {data_dir}."
        )
        self._heartbeats(sensors, server)
        simulator = Simulator(sensors, speed=options["speed"], gap_s=options["gap"])
        try:
            if options["replay_chicago"]:
                self._replay_chicago(
                    Path(options["replay_chicago"]), agency, frame, simulator, server, options
                )
            self._run(simulator, rng, frame, options)
        except KeyboardInterrupt:
            logger.info("Interrupted: sending what is queued, then stopping.")
            simulator.cancel_future()  # events that have not happened yet are dropped
            simulator.drain(timeout_s=5)
        finally:
            undelivered = sum(len(s.agent.outbox) for s in simulator.sensors)
            simulator.close()
        totals = simulator.totals
        if undelivered:
            self.stderr.write(
                f"{undelivered} pulse(s) not delivered; they stay in the agents' outboxes "
                f"under {data_dir} and are sent on the next run."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {totals.events} event(s), {totals.pulses_queued} pulses queued, "
                f"{totals.sent} sent ({totals.accepted} accepted, {totals.duplicates} duplicates, "
                f"{totals.rejected} refused), {totals.audio_sent} audio clip(s) uploaded."
            )
        )

    def _server_public_key(self, options) -> Path:
        """The file the agents read the server's public key from (as a sensor would)."""
        if options["server_public_key"] is not None:
            return options["server_public_key"]
        try:
            pem = server_public_key_pem()
        except ImproperlyConfigured as error:
            raise CommandError(
                f"{error}; or pass --server-public-key FILE (the server's public key)"
            ) from None
        path = Path(options["data_dir"]) / "server-public-key.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pem)
        tmp.replace(path)
        return path

    def _check_server(self, server: str, *, wait_s: float) -> None:
        deadline = time.monotonic() + max(wait_s, 0.0)
        while True:
            try:
                requests.get(server + "/api/schema/", timeout=5)
                return
            except requests.RequestException as error:
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"Cannot reach the server at {server} ({error.__class__.__name__}). "
                        "Start it first (make run, or python manage.py runserver) or pass "
                        "--server URL."
                    ) from None
                time.sleep(1.0)

    def _virtual_sensors(self, agency, sites, *, server, options) -> list[VirtualSensor]:
        sensors = []
        for site in sites:
            key_path = self._ensure_registered(agency, site, options["data_dir"])
            try:
                agent = make_agent(
                    site=site,
                    server_url=server,
                    key_path=key_path,
                    server_key_path=self.server_key_path,
                    allow_insecure_http=options["allow_insecure_http"],
                    data_dir=options["data_dir"] / "sensors",
                    retention_hours=options["retention_hours"],
                )
            except AgentError as error:
                raise CommandError(str(error)) from error
            sensors.append(VirtualSensor(site=site, agent=agent))
        return sensors

    def _ensure_registered(self, agency, site: SensorSite, data_dir: Path) -> Path:
        """Register the virtual sensor with a new key, or reuse it with its stored key."""
        keys = data_dir / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        key_path = keys / f"{site.serial}.pem"
        existing = Sensor.objects.filter(serial_number=site.serial).first()
        if existing is not None:
            if not key_path.exists():
                raise CommandError(
                    f"Sensor {site.serial} is registered but its private key is not in {keys}; "
                    "retire it in the admin or use another --data-dir with its keys."
                )
            key = load_private_key_pem(key_path.read_bytes())
            if public_key_b64(key.public_key()) != existing.public_key:
                raise CommandError(
                    f"The key in {key_path} does not match sensor {site.serial}'s public key."
                )
            if existing.status != SensorStatus.ACTIVE:
                logger.warning(
                    f"Sensor {site.serial} is {existing.status}: the server "
                    "will refuse its requests."
                )
            return key_path
        key = generate_private_key()
        try:
            services.sensor_register(
                agency=agency,
                serial=site.serial,
                latitude=site.latitude,
                longitude=site.longitude,
                elevation_m=site.elevation_m,
                public_key=public_key_b64(key.public_key()),
                position_error_m=1.0,
                firmware="simulator",
            )
        except ValidationError as error:
            raise CommandError(f"Cannot register {site.serial}: {error}") from error
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_key_pem(key))
        if self.verbosity >= 2:
            logger.info(f"Registered {site.serial} at {site.latitude}, {site.longitude}.")
        return key_path

    def _heartbeats(self, sensors: list[VirtualSensor], server: str) -> None:
        first = sensors[0].agent
        reply = first.heartbeat()
        if reply is None:
            raise CommandError(
                f"The server at {server} refused the heartbeat of {first.config.serial}. Is it "
                "running with the same database as this command?"
            )
        for sensor in sensors[1:]:
            sensor.agent.heartbeat()

    # --- events -----------------------------------------------------------------------------------

    def _run(self, simulator: Simulator, rng: random.Random, frame, options) -> None:
        kinds, weights = zip(*SCENARIO_MIX.items(), strict=True)
        if options["once"]:
            plan = [options["once"]]
        elif options["count"] is not None:
            plan = [rng.choices(kinds, weights)[0] for _ in range(options["count"])]
        else:
            plan = None  # for ever
        played = 0
        next_at = time.time()
        waiting = None  # an event rendered but not yet placed (the previous one is not over)
        while plan is None or played < len(plan):
            now = time.time()
            if waiting is None and now >= next_at:
                kind = plan[played] if plan is not None else rng.choices(kinds, weights)[0]
                sites = [s.site for s in simulator.sensors]
                waiting = render_event(
                    kind=kind,
                    seed=rng.randrange(2**31),
                    sites=sites,
                    t0=now + 0.5,
                    weather=self.weather,
                )
            if waiting is not None and simulator.play(waiting):
                self._describe(waiting, frame)
                played += 1
                pause = event_pause_s(
                    rng,
                    mean_s=options["interval"],
                    max_s=options["max_pause"] or MAX_PAUSE_FACTOR * options["interval"],
                    speed=options["speed"],
                )
                # The pause runs from the end of the event (in real time it may lie ahead).
                next_at = max(time.time(), waiting.last_arrival) + pause
                waiting = None
            simulator.step()
            time.sleep(0.05)
        if not simulator.drain(timeout_s=60):
            logger.warning("Some pulses could not be delivered (kept in the agents' outboxes).")
        linger_until = time.time() + max(options["linger"], 0.0)
        while time.time() < linger_until:
            simulator.step()
            time.sleep(0.1)

    def _describe(self, event, frame) -> None:
        sources = []
        for source in event.sources():
            lat, lon, _ = frame.to_wgs84(np.array([source["x"], source["y"], 0.0]))
            sources.append(
                f"{source['label']} x{source['emissions']} at {float(lat):.5f}, {float(lon):.5f}"
            )
        # In real time the event is placed in the future (after the previous one's quiet gap):
        # say when it happens, as the log line's own time is when it was scheduled.
        ahead = event.first_emit - time.time()
        due = f" (in {ahead:.0f} s)" if ahead >= 1 else ""
        logger.info(
            f"{event.kind} (seed {event.seed}) at "
            f"{time.strftime('%H:%M:%S', time.localtime(event.first_emit))}{due}: "
            f"{'; '.join(sources)} -> {event.n_pulses} pulses from {event.n_sensors} sensors"
        )

    def _replay_chicago(self, directory: Path, agency, frame, simulator, server, options):
        if not directory.is_dir():
            logger.warning(f"No Chicago clips at {directory}: skipping the replay.")
            return []
        extra: list[VirtualSensor] = []
        now = time.time()
        for name, clips in chicago_incidents(directory).items():
            sites = replay_sites(clips, frame=frame, prefix="SIM-CHI")
            # Keep the clips' relative timing; the earliest clip ends just before now.
            t_first = min(c.start for c in clips)
            t_end = max(c.start + len(c.samples) / c.sample_rate for c in clips)
            shift = now - 1.0 - t_end
            found = 0
            for clip, site in zip(clips, sites, strict=True):
                key_path = self._ensure_registered(agency, site, options["data_dir"])
                agent = make_agent(
                    site=site,
                    server_url=server,
                    key_path=key_path,
                    server_key_path=self.server_key_path,
                    allow_insecure_http=options["allow_insecure_http"],
                    data_dir=options["data_dir"] / "sensors",
                    retention_hours=options["retention_hours"],
                    full_scale_db_spl=None,
                )
                sensor = VirtualSensor(site=site, agent=agent)
                extra.append(sensor)
                simulator.sensors.append(sensor)
                found += simulator.play_recorded(sensor, clip, start=clip.start + shift)
            simulator.quiet_until = time.time() + simulator.gap_s
            logger.info(
                f"Chicago replay {name}: {len(clips)} real clip(s) "
                f"({np.round(t_end - t_first, 1)} s) -> {found} pulses detected by the agents"
            )
        return extra
