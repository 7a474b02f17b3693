"""The city simulator against the real server (live_server): signed pulses from the grid."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from apps.geo.models import CoverageArea
from apps.sensors.models import Sensor, SensorPulse
from apps.sensors.simulation import Simulator, VirtualSensor, city_grid, render_event
from tests.conftest import REPO_ROOT
from tests.factories import AgencyFactory
from tests.sensor_agent.support import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_area():
    city = json.loads((REPO_ROOT / "fixtures" / "demo_city.json").read_text())
    agency = AgencyFactory(system_id="42", name="Riverside Police Department")
    spec = city["coverage_areas"][0]
    return CoverageArea.objects.create(agency=agency, name=spec["name"], boundary=spec["boundary"])


def simulate(*args, data_dir, **kwargs) -> str:
    """The command's output: what it writes and what it logs as it runs (the simulator's
    lines go through logging, the agents' only from warnings up)."""
    out = io.StringIO()
    lines = logging.StreamHandler(out)
    lines.setLevel(logging.INFO)
    watched = [logging.getLogger("simulator"), logging.getLogger("sensor_agent")]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.addHandler(lines)
        logger.setLevel(logging.INFO)
    try:
        call_command(
            "simulate", *args, "--data-dir", str(data_dir), stdout=out, stderr=out, **kwargs
        )
    finally:
        for logger, level in zip(watched, levels, strict=True):
            logger.removeHandler(lines)
            logger.setLevel(level)
    return out.getvalue()


def test_grid_is_inside_the_coverage_area_with_realistic_spacing(demo_area):
    from apps.geo.polygons import geometry_contains, haversine_m

    _, sites = city_grid(boundary=demo_area.boundary, prefix="SIM-42", count=16, spacing_m=400)
    assert len(sites) == 16
    assert len({s.serial for s in sites}) == 16
    for site in sites:
        assert geometry_contains(geometry=demo_area.boundary, lon=site.longitude, lat=site.latitude)
    nearest = [
        min(
            haversine_m(lat1=a.latitude, lon1=a.longitude, lat2=b.latitude, lon2=b.longitude)
            for b in sites
            if b is not a
        )
        for a in sites
    ]
    assert 250 < min(nearest) and max(nearest) < 550
    # The same city always gets the same sensors (so they can be reused).
    _, again = city_grid(boundary=demo_area.boundary, prefix="SIM-42", count=16, spacing_m=400)
    assert again == sites


def test_once_single_shot_posts_signed_pulses_the_server_accepts(demo_area, live_server, tmp_path):
    output = simulate(
        "--server",
        live_server.url,
        "--once",
        "single_shot",
        "--seed",
        "3",
        "--speed",
        "100",
        "--linger",
        "0",
        data_dir=tmp_path,
    )

    assert Sensor.objects.filter(serial_number__startswith="SIM-42-").count() == 16
    per_sensor = (
        SensorPulse.objects.values("sensor__serial_number").annotate(n=Count("id")).order_by()
    )
    assert len(per_sensor) >= 4, output
    assert all(row["sensor__serial_number"].startswith("SIM-42-") for row in per_sensor)
    assert "single_shot" in output and "1 event(s)" in output
    total = SensorPulse.objects.count()
    assert f"{total} accepted, 0 duplicates, 0 refused" in output
    # The deliveries in one summary line (every 30 s, and at the end), not the agents' own
    # line per batch.
    assert f"delivered {total} pulse(s) in " in output, output
    assert "pulse(s): " not in output, output
    # Every virtual sensor's outbox is empty: all delivered.
    for outbox in (tmp_path / "sensors").glob("*/outbox.sqlite3"):
        import sqlite3

        with sqlite3.connect(outbox) as db:
            assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    # Keys stay in the data dir, private.
    keys = list((tmp_path / "keys").glob("SIM-42-*.pem"))
    assert len(keys) == 16
    assert all(path.stat().st_mode & 0o077 == 0 for path in keys)


def test_a_second_run_reuses_the_sensors_and_keys(demo_area, live_server, tmp_path):
    args = ("--server", live_server.url, "--speed", "100", "--linger", "0")
    simulate(*args, "--once", "backfire", "--seed", "1", data_dir=tmp_path)
    ids = sorted(Sensor.objects.values_list("pk", flat=True))
    simulate(*args, "--once", "single_shot", "--seed", "2", data_dir=tmp_path)
    assert sorted(Sensor.objects.values_list("pk", flat=True)) == ids
    # A registered sensor whose key is gone is not silently replaced.
    for path in (tmp_path / "keys").glob("*.pem"):
        path.unlink()
    with pytest.raises(CommandError, match="private key is not in"):
        simulate(*args, "--once", "single_shot", data_dir=tmp_path)


def test_refuses_an_unreachable_server_clearly(demo_area, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match=f"Cannot reach the server at {url}"):
        simulate("--server", url, "--once", "single_shot", data_dir=tmp_path)
    assert not Sensor.objects.exists()  # nothing registered for a server that is not there


def test_refuses_a_missing_agency_clearly(live_server, tmp_path):
    with pytest.raises(CommandError, match="seed_demo"):
        simulate("--server", live_server.url, "--once", "single_shot", data_dir=tmp_path)


def test_replays_the_chicago_clips_through_the_agents_detector(
    demo_area, live_server, tmp_path, shared_data
):
    chicago = shared_data / "chicago-audio"
    if not chicago.is_dir():
        pytest.skip("no Chicago clips")
    output = simulate(
        "--server",
        live_server.url,
        "--replay-chicago",
        str(chicago),
        "--count",
        "0",
        "--linger",
        "0",
        "--speed",
        "100",
        data_dir=tmp_path,
    )
    replayed = SensorPulse.objects.filter(sensor__serial_number__startswith="SIM-CHI-")
    assert replayed.values("sensor").distinct().count() >= 4, output
    assert "Chicago replay incident-556267: 4 real clip(s)" in output


def test_events_follow_each_other_without_overlapping(demo_area, tmp_path):
    from apps.sensor_agent.agent import SensorAgent
    from apps.sensors.signing import generate_private_key
    from tests.sensor_agent.support import agent_config

    _, sites = city_grid(boundary=demo_area.boundary, prefix="SIM-42", count=16)
    sensors = [
        VirtualSensor(
            site=site,
            agent=SensorAgent(
                agent_config(tmp_path / site.serial, server_url="http://127.0.0.1:9"),
                private_key=generate_private_key(),
            ),
        )
        for site in sites
    ]
    clock = [1_790_000_000.0]
    for speed in (1.0, 50.0):
        simulator = Simulator(
            sensors, speed=speed, gap_s=10, out=lambda _: None, clock=lambda: clock[0]
        )
        first = render_event(kind="semi_auto", seed=1, sites=sites, t0=clock[0])
        second = render_event(kind="single_shot", seed=2, sites=sites, t0=clock[0])
        assert simulator.play(first)
        if speed > 1:
            assert first.last_arrival < clock[0]  # placed to have just happened
            assert not simulator.play(second)  # not before the quiet gap has passed
            clock[0] += 10 + second.duration_s + 1
        assert simulator.play(second)
        assert second.first_emit >= first.last_arrival + 10
        pulse_times = [t for r in second.reports for t in r.arrival_epochs]
        assert min(pulse_times) > first.last_arrival + 10
    for sensor in sensors:
        sensor.agent.close()


def test_virtual_sensors_answer_audio_requests_from_the_rendered_audio(demo_area, tmp_path):
    """Against a recording stub server (the real endpoint is tested where it lives)."""
    import numpy as np

    from apps.acoustics.wavfiles import parse_wav_bytes
    from apps.sensor_agent.agent import SensorAgent
    from apps.sensor_agent.client import AUDIO_START_HEADER, parse_utc, utc_iso
    from apps.sensors.signing import generate_private_key
    from tests.sensor_agent.support import StubSensorServer, agent_config

    stub = StubSensorServer().start()
    _, sites = city_grid(boundary=demo_area.boundary, prefix="SIM-42", count=16)
    sensors = [
        VirtualSensor(
            site=site,
            agent=SensorAgent(
                agent_config(
                    tmp_path / site.serial,
                    server_url=stub.url,
                    server_key=stub.public_key,
                    audio_poll_interval_s=1,
                ),
                private_key=generate_private_key(),
            ),
        )
        for site in sites
    ]
    lines: list[str] = []
    try:
        simulator = Simulator(sensors, speed=100, out=lines.append)
        event = render_event(kind="single_shot", seed=4, sites=sites, t0=0.0)
        assert simulator.play(event)
        [shot] = event.shots
        # The sensor nearest the shot is asked for 2 s before it to 4 s after it.
        nearest = min(
            (r for r in event.reports if r.pulses),
            key=lambda r: np.hypot(
                sites[r.index].xyz[0] - shot["x"], sites[r.index].xyz[1] - shot["y"]
            ),
        )
        start, end = shot["t_emit"] - 2.0, shot["t_emit"] + 4.0
        stub.audio_requests = [
            {
                "id": 5,
                "incident": "42-1",
                "start_utc": utc_iso(start),
                "end_utc": utc_iso(end),
                "sample_rate": 12000,
                "expires_at": utc_iso(end + 600),
            }
        ]
        target = sensors[nearest.index]
        for sensor in sensors:
            sensor.agent.timers.next_poll = 0.0 if sensor is target else float("inf")
        simulator.step()

        [put] = stub.puts()
        assert put["path"] == "/api/v1/sensor/audio-requests/5"
        clip_start = parse_utc(put["headers"][AUDIO_START_HEADER.lower()])
        wav = parse_wav_bytes(put["body"])
        # (the header holds the first sample's time rounded to the microsecond, and times
        # near 1.8e9 s carry ~0.2 µs of float error, so allow a microsecond either side)
        assert start - 1e-6 <= clip_start <= start + 1 / 12000 + 1e-6
        assert len(wav.samples) in (6 * 12000 - 1, 6 * 12000)
        # The shot is in it, where the sensor heard it, well above the ambient noise.
        arrival = nearest.arrival_epochs[0]
        at = int((arrival - clip_start) * 12000)
        peak = np.abs(wav.samples[at : at + 600]).max()
        noise = np.abs(wav.samples[: at - 600]).std()
        assert peak > 20 * noise
        # One line for the answer; the deliveries are summed up in one line, not one per batch.
        [answer] = [line for line in lines if "audio request" in line]
        assert answer.startswith(f"{target.agent.config.serial}: answered audio request 5 ("), (
            answer
        )
        assert not any(line.startswith("delivered") for line in lines), lines
        simulator.report_deliveries()
        [summary] = [line for line in lines if line.startswith("delivered")]
        n_pulses = sum(len(r.pulses) for r in event.reports)
        assert summary.startswith(f"delivered {n_pulses} pulse(s) in "), summary
        simulator.report_deliveries()  # nothing new: no line
        assert len([line for line in lines if line.startswith("delivered")]) == 1
    finally:
        for sensor in sensors:
            sensor.agent.close()
        stub.stop()


def test_the_same_seed_twice_reports_new_pulses(demo_area, live_server, tmp_path):
    args = (
        "--server",
        live_server.url,
        "--once",
        "single_shot",
        "--seed",
        "3",
        "--speed",
        "100",
        "--linger",
        "0",
    )
    simulate(*args, data_dir=tmp_path)
    first = SensorPulse.objects.count()
    output = simulate(*args, data_dir=tmp_path)
    assert SensorPulse.objects.count() == 2 * first
    assert f"{first} accepted, 0 duplicates" in output


def test_a_simulated_gunshot_becomes_an_incident_and_its_audio_is_answered(
    demo_area, live_server, tmp_path, settings
):
    """End to end over real HTTP: pulses -> pipeline -> incident -> audio requests -> the
    virtual sensors' agents upload the requested windows to the real endpoint."""
    import math
    import re

    from apps.incidents.classification import ClassifierUnavailable, load_model
    from apps.incidents.models import AudioClip, AudioRequest, AudioRequestStatus, Incident

    try:
        load_model(getattr(settings, "INCIDENT_CLASSIFIER_PATH", None) or None)
    except ClassifierUnavailable as error:
        pytest.skip(f"no usable acoustic classifier model: {error}")
    output = simulate(
        "--server",
        live_server.url,
        "--once",
        "single_shot",
        "--seed",
        "3",
        "--speed",
        "100",
        "--linger",
        "12",
        data_dir=tmp_path,
    )

    incidents = list(Incident.objects.all())
    assert len(incidents) == 1, (
        [(i.number, i.machine_class, i.latitude, i.longitude, i.n_sensors) for i in incidents],
        output,
    )
    incident = incidents[0]
    lat, lon = map(float, re.search(r"gunfire x1 at ([-\d.]+), ([-\d.]+)", output).groups())
    from apps.geo.polygons import haversine_m

    error_m = haversine_m(lat1=lat, lon1=lon, lat2=incident.latitude, lon2=incident.longitude)
    assert error_m < max(25.0, incident.ellipse_major_m), (error_m, output)
    # Refinements may withdraw requests of sensors that stopped being the nearest; every
    # request still standing was answered, and at most 4 sensors sent audio.
    requests_ = AudioRequest.objects.filter(incident=incident)
    assert not requests_.filter(status=AudioRequestStatus.PENDING).exists(), output
    fulfilled = list(requests_.filter(status=AudioRequestStatus.FULFILLED))
    assert 1 <= len(fulfilled) <= 4
    clips = list(AudioClip.objects.filter(incident=incident).select_related("request"))
    assert sorted(c.request_id for c in clips) == sorted(r.pk for r in fulfilled), output
    for clip in clips:
        request = clip.request
        assert clip.sensor_id == request.sensor_id
        assert clip.sample_rate == 12_000
        assert clip.start_time >= request.window_start
        # Every sample's time lies in [window start, window end).
        last_sample = clip.start_time.timestamp() + (clip.n_samples - 1) / clip.sample_rate
        assert last_sample < request.window_end.timestamp()
        # The whole window was in the virtual sensor's ring buffer: nothing is missing.
        assert math.isclose(clip.duration_s, request.window_s, abs_tol=2 / 12_000)
    assert f"answered audio request {fulfilled[0].pk}" in output


def test_plain_http_to_another_machine_needs_the_insecure_flag(demo_area, tmp_path):
    with pytest.raises(CommandError, match="--server: .*plain http.*allow_insecure_http"):
        simulate("--server", "http://192.0.2.1:8000", "--once", "single_shot", data_dir=tmp_path)
    assert not Sensor.objects.exists()


def test_pauses_are_exponential_but_cut_at_three_times_the_mean():
    """A 45 s mean once drew a 4 minute pause under make run; 135 s is the longest now."""
    import random

    from apps.sensors.management.commands.simulate import MAX_PAUSE_FACTOR, event_pause_s

    rng = random.Random(7)
    pauses = [event_pause_s(rng, mean_s=45.0, max_s=135.0, speed=1.0) for _ in range(20_000)]
    assert max(pauses) == 135.0 and min(pauses) >= 0.0
    assert 0.04 < sum(p == 135.0 for p in pauses) / len(pauses) < 0.06  # e^-3 = 5 %
    assert 40.0 < sum(pauses) / len(pauses) < 45.0  # 45 (1 - e^-3) = 42.8 s
    fast = [event_pause_s(rng, mean_s=45.0, max_s=135.0, speed=10.0) for _ in range(1000)]
    assert max(fast) <= 13.5
    assert MAX_PAUSE_FACTOR == 3.0


def test_the_help_documents_the_pauses():
    from apps.sensors.management.commands.simulate import Command

    text = " ".join(Command().create_parser("manage.py", "simulate").format_help().split())
    assert "--max-pause SECONDS" in text
    assert "default: 3 x --interval" in text
    assert "The first event starts at once" in text


def test_in_real_time_the_first_event_comes_at_once_and_no_pause_exceeds_max_pause(
    demo_area, live_server, tmp_path
):
    """--interval 600 would make a newcomer wait ten minutes on average; --max-pause 2
    keeps two events within seconds of each other."""
    import re
    import time

    started = time.time()
    output = simulate(
        "--server",
        live_server.url,
        "--count",
        "2",
        "--seed",
        "3",
        "--interval",
        "600",
        "--max-pause",
        "2",
        "--gap",
        "1",
        "--linger",
        "0",
        data_dir=tmp_path,
    )
    elapsed = time.time() - started

    assert "2 event(s)" in output, output
    placed = re.findall(r"\(seed \d+\) at (\d\d):(\d\d):(\d\d)", output)
    assert len(placed) == 2, output
    first, second = (int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in placed)
    # The first event is placed when the run starts (a later one would say "(in N s)").
    first_line = next(line for line in output.splitlines() if "(seed " in line)
    assert "(in " not in first_line, output
    # Without the cut, the pause after the first event averaged 600 s.
    assert (second - first) % 86400 < 60, output
    assert elapsed < 120, output
