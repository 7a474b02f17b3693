"""`manage.py relocate`: one JSON line per PATH, clear failure on unreadable input."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.acoustics.bench.location_synthetic import grid_sensors, make_scenario
from apps.acoustics.io import parse_utc, write_allpulses
from apps.acoustics.sound import speed_of_sound

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = 1545180567.25
HOT = 30.0  # °C: sound is 2.6% faster than at the 15 °C default


def make_test_folder(folder: Path, *, with_weather: bool = True, seed: int = 3) -> list:
    rng = np.random.default_rng(seed)
    truth = [(480.0, 560.0, T0), (480.0, 560.0, T0 + 0.7)]
    case = make_scenario(
        rng, sensors=grid_sensors(rng), shots=truth, c=speed_of_sound(HOT), random_pulses=20
    )
    folder.mkdir(parents=True, exist_ok=True)
    write_allpulses(folder / "test_900.allpulses.json", case.pulses)
    if with_weather:
        weather = {"fluid": "air", "temperature": HOT, "speed": 0.0, "direction": 0.0}
        (folder / "test_900.weather.json").write_text(json.dumps(weather))
    return truth


def relocate(*paths) -> list[dict]:
    out = io.StringIO()
    call_command("relocate", *map(str, paths), stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_prints_one_json_line_per_path_with_located_shots(tmp_path):
    truth = make_test_folder(tmp_path / "a")
    (record,) = relocate(tmp_path / "a")
    assert record["source"] == str(tmp_path / "a")
    assert len(record["shots"]) == 2
    for shot, (x, y, t) in zip(record["shots"], truth, strict=True):
        assert set(shot) == {
            "t_utc",
            "x",
            "y",
            "z",
            "pulse_uuids",
            "n_sensors",
            "residual_rms_ms",
            "ellipse95_m",
        }
        assert math.hypot(shot["x"] - x, shot["y"] - y) < 2.0
        assert abs(parse_utc(shot["t_utc"]) - t) < 0.005
        assert shot["z"] is None
        assert shot["n_sensors"] == len(shot["pulse_uuids"]) >= 4
        assert 0.0 < shot["residual_rms_ms"] < 3.0
        major, minor, azimuth = shot["ellipse95_m"]
        assert 0.0 < minor <= major < 10.0 and 0.0 <= azimuth < 180.0


def test_several_paths_and_a_single_allpulses_file(tmp_path):
    make_test_folder(tmp_path / "a", seed=3)
    make_test_folder(tmp_path / "b", seed=4, with_weather=False)
    single = tmp_path / "b" / "test_900.allpulses.json"
    records = relocate(tmp_path / "a", single)
    assert [r["source"] for r in records] == [str(tmp_path / "a"), str(single)]
    assert all(len(r["shots"]) == 2 for r in records)


def test_uses_the_weather_temperature(tmp_path):
    truth = make_test_folder(tmp_path / "warm", with_weather=True)
    make_test_folder(tmp_path / "default", with_weather=False)
    warm, default = relocate(tmp_path / "warm", tmp_path / "default")
    x, y, t = truth[0]
    warm_time_error = abs(parse_utc(warm["shots"][0]["t_utc"]) - t)
    default_time_error = abs(parse_utc(default["shots"][0]["t_utc"]) - t)
    # The wrong speed of sound (15 °C instead of 30 °C) shifts the fitted emission time.
    assert warm_time_error < 0.001 < default_time_error


def test_two_and_a_half_d_reports_the_given_height(tmp_path):
    make_test_folder(tmp_path / "a")
    out = io.StringIO()
    call_command("relocate", str(tmp_path / "a"), "--source-z", "-3.5", stdout=out)
    record = json.loads(out.getvalue())
    assert all(shot["z"] == -3.5 for shot in record["shots"])


def test_unreadable_input_raises_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        relocate(tmp_path / "missing")
    bad = tmp_path / "bad.allpulses.json"
    bad.write_text('[{"pulse_uuid": "a", "serial_number": "S1"}]')
    with pytest.raises(CommandError, match="missing field"):
        relocate(bad)


def test_an_unreadable_path_does_not_stop_the_others(tmp_path):
    """`relocate FP*/test_*` with one broken folder used to stop there: the paths after
    it were never located. Each readable PATH gets its line; the command then fails,
    naming what it could not read."""
    make_test_folder(tmp_path / "first")
    make_test_folder(tmp_path / "last", seed=4)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 of 3 paths could not be read or located"):
        call_command(
            "relocate",
            str(tmp_path / "first"),
            str(tmp_path / "missing"),
            str(tmp_path / "last"),
            stdout=out,
            stderr=err,
        )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["source"] for line in lines] == [str(tmp_path / "first"), str(tmp_path / "last")]
    assert all(len(line["shots"]) == 2 for line in lines)
    assert "missing" in err.getvalue() and "no such file" in err.getvalue()


def test_subprocess_exits_non_zero_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.allpulses.json"
    bad.write_text(
        '[{"pulse_uuid": "a", "serial_number": "S1", "arrival_time_utc": "x",'
        ' "location": {"x": 0, "y": 0, "z": 0}}]'
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shotspotter.settings_test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "relocate", str(bad)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "bad timestamp" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_uses_the_weather_wind(tmp_path):
    # Exact arrivals in uniformly moving air (12 m/s from the west); the wind shift in the
    # locator removes the bias that still-air geometry leaves (several metres here).
    from apps.acoustics.sound import wind_vector
    from apps.acoustics.types import Pulse

    c, source, t_emit = speed_of_sound(0.0), np.array([430.0, 610.0]), T0
    wind = wind_vector(speed_ms=12.0, from_deg=270.0)
    sensors = grid_sensors(np.random.default_rng(5))
    pulses = []
    for k, sensor in enumerate(sensors):
        d = sensor[:2] - source
        a, b, q = wind @ wind - c**2, -2.0 * d @ wind, d @ d
        delay = (-b - math.sqrt(b * b - 4.0 * a * q)) / (2.0 * a)
        pulses.append(Pulse(f"p{k}", f"S{k}", t_emit + delay, *map(float, sensor)))
    for name, speed in (("windy", 12.0), ("calm", 0.0)):
        folder = tmp_path / name
        folder.mkdir()
        write_allpulses(folder / "test_901.allpulses.json", pulses)
        weather = {"fluid": "air", "temperature": 0.0, "speed": speed, "direction": 270.0}
        (folder / "test_901.weather.json").write_text(json.dumps(weather))
    windy, calm = relocate(tmp_path / "windy", tmp_path / "calm")
    (with_wind,) = windy["shots"]
    (without,) = calm["shots"]
    assert math.hypot(with_wind["x"] - source[0], with_wind["y"] - source[1]) < 0.05
    assert math.hypot(without["x"] - source[0], without["y"] - source[1]) > 1.0


@pytest.mark.parametrize("height", ["nan", "inf", "-inf", "ten"])
def test_a_source_height_that_is_not_a_finite_number_is_refused(tmp_path, height):
    # float() takes 'nan' and 'inf': they used to give an empty result (no shots), silently.
    make_test_folder(tmp_path / "a")
    with pytest.raises(CommandError, match="--source-z"):
        call_command("relocate", str(tmp_path / "a"), f"--source-z={height}", stdout=io.StringIO())
