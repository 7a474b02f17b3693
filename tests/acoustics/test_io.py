"""Reading and writing pulse files in the live-fire layout."""

from __future__ import annotations

import json
import math

import pytest

from apps.acoustics.io import (
    PulseFileError,
    format_utc,
    parse_utc,
    read_allpulses,
    read_pulse_input,
    read_weather,
    write_allpulses,
)
from apps.acoustics.types import Pulse

RECORD = {
    "pulse_uuid": "3e946732-30fe-bd5b-5586-42311920789e",
    "serial_number": "SCP-00-BNG-5028",
    "arrival_time_utc": "2018-12-19T00:49:27.467Z",
    "location": {"x": -11784.3014226056, "y": 3135.63579979911, "z": -102.0375003662},
    "location_error": 0.031864,
    "signal_to_noise_dB": 4.33317,
    "power_dB_SPL": 76.9707,
}


@pytest.fixture
def livefire_root(shared_data):
    root = shared_data / "pittsburgh-live-fire"
    if not root.is_dir():
        pytest.skip(f"live-fire data not present at {root}")
    return root


def write_json(path, payload):
    path.write_text(json.dumps(payload))
    return path


def test_parse_utc_handles_z_and_microseconds():
    assert parse_utc("1970-01-01T00:00:01.000Z") == 1.0
    assert parse_utc("2018-12-19T00:49:27.467Z") == pytest.approx(1545180567.467, abs=1e-6)
    assert parse_utc("2018-12-19T00:49:27.467123Z") - parse_utc(
        "2018-12-19T00:49:27.467Z"
    ) == pytest.approx(123e-6, abs=1e-7)
    assert parse_utc("2018-12-19T00:49:27+00:00") == parse_utc("2018-12-19T00:49:27Z")


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2018-12-19T00:49:27", "2018-12-19T00:49:27+02:00", 17]
)
def test_parse_utc_rejects_bad_or_non_utc_timestamps(text):
    with pytest.raises(PulseFileError):
        parse_utc(text)


def test_format_utc_uses_milliseconds_when_exact_else_microseconds():
    assert format_utc(1545180567.467) == "2018-12-19T00:49:27.467Z"
    assert format_utc(1545180567.467123) == "2018-12-19T00:49:27.467123Z"
    assert format_utc(1545180567.9999996) == "2018-12-19T00:49:28.000Z"
    with pytest.raises(ValueError):
        format_utc(math.nan)


def test_reads_a_record_into_a_pulse(tmp_path):
    (pulse,) = read_allpulses(write_json(tmp_path / "t.allpulses.json", [RECORD]))
    assert pulse.pulse_uuid == RECORD["pulse_uuid"]
    assert pulse.sensor_id == "SCP-00-BNG-5028"
    assert pulse.t == pytest.approx(1545180567.467, abs=1e-6)
    assert (pulse.x, pulse.y, pulse.z) == (-11784.3014226056, 3135.63579979911, -102.0375003662)
    assert pulse.snr_db == 4.33317 and pulse.power_db_spl == 76.9707
    assert pulse.location_error_m == 0.031864


def test_write_then_read_round_trips_every_field(tmp_path):
    pulses = [
        Pulse("a", "S1", 1545180567.467, 1.5, -2.25, 3.0, 80.5, 12.25, 0.03),
        Pulse("b", "S2", 1545180567.467123, 10.0, 20.0, 30.0, features={"rise_ms": 0.8}),
    ]
    path = tmp_path / "x.allpulses.json"
    write_allpulses(path, pulses)
    back = read_allpulses(path)
    assert [p.pulse_uuid for p in back] == ["a", "b"]
    assert back[0] == pulses[0]
    assert back[1].t == pytest.approx(pulses[1].t, abs=1e-6)
    assert back[1].features == {"rise_ms": 0.8}
    assert back[1].power_db_spl is None
    # Same layout as the published files: the same keys, in the same order.
    written = json.loads(path.read_text())
    assert list(written[0]) == list(RECORD)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("arrival_time_utc"), "missing field"),
        (lambda r: r.pop("location"), "missing field"),
        (lambda r: r["location"].pop("z"), "location is missing z"),
        (lambda r: r.update(arrival_time_utc="2018-13-45T00:00:00Z"), "bad timestamp"),
        (lambda r: r["location"].update(x=float("nan")), "not finite"),
        (lambda r: r["location"].update(y=float("inf")), "not finite"),
        (lambda r: r["location"].update(x="12"), "must be a number"),
        (lambda r: r.update(pulse_uuid=""), "pulse_uuid"),
        (lambda r: r.update(power_dB_SPL=float("nan")), "not finite"),
    ],
)
def test_malformed_records_give_a_clear_error(tmp_path, change, message):
    record = json.loads(json.dumps(RECORD))
    change(record)
    # json.dumps writes NaN/Infinity tokens, which Python's reader accepts: the check is ours.
    path = write_json(tmp_path / "bad.allpulses.json", [record])
    with pytest.raises(PulseFileError, match=message):
        read_allpulses(path)


def test_not_json_not_a_list_and_duplicates_are_refused(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(PulseFileError, match="not valid JSON"):
        read_allpulses(tmp_path / "a.json")
    with pytest.raises(PulseFileError, match="JSON list"):
        read_allpulses(write_json(tmp_path / "b.json", {"pulses": []}))
    with pytest.raises(PulseFileError, match="duplicate"):
        read_allpulses(write_json(tmp_path / "c.json", [RECORD, RECORD]))
    with pytest.raises(PulseFileError, match="no such file"):
        read_pulse_input(tmp_path / "missing")


def test_folder_reads_pulses_and_weather_and_nothing_else(tmp_path):
    write_json(tmp_path / "test_001.allpulses.json", [RECORD])
    write_json(
        tmp_path / "test_001.weather.json",
        {"fluid": "air", "temperature": -1.1, "speed": 1.79, "direction": 150.0},
    )
    # Answers and other files must not be read: make them unreadable as pulses.
    (tmp_path / "test_001.survey.json").write_text("garbage")
    (tmp_path / "test_001.nlos-tuples.json").write_text("garbage")
    result = read_pulse_input(tmp_path)
    assert [p.pulse_uuid for p in result.pulses] == [RECORD["pulse_uuid"]]
    assert result.weather.temperature_c == -1.1
    assert result.weather.wind_speed_ms == 1.79 and result.weather.wind_from_deg == 150.0


def test_folder_without_weather_and_without_pulses(tmp_path):
    write_json(tmp_path / "t.allpulses.json", [RECORD])
    assert read_pulse_input(tmp_path).weather is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PulseFileError, match="no \\*.allpulses.json"):
        read_pulse_input(empty)


def test_implausible_weather_is_refused(tmp_path):
    with pytest.raises(PulseFileError, match="temperature"):
        read_weather(write_json(tmp_path / "w.json", {"temperature": 400, "speed": 0}))
    with pytest.raises(PulseFileError, match="wind speed"):
        read_weather(write_json(tmp_path / "v.json", {"temperature": 5, "speed": -3}))
    with pytest.raises(PulseFileError, match="wind speed 500.0 m/s is not plausible"):
        read_weather(write_json(tmp_path / "u.json", {"temperature": 5, "speed": 500}))
    assert (
        read_weather(write_json(tmp_path / "t.json", {"temperature": 5, "speed": 40})).wind_speed_ms
        == 40
    )


def test_reads_a_real_live_fire_test(livefire_root):
    result = read_pulse_input(livefire_root / "FP1" / "test_001")
    assert len(result.pulses) == 158
    assert len({p.sensor_id for p in result.pulses}) == 27
    assert result.weather.temperature_c == 0.0
