"""Inputs the fuzzers (tests/security/) found to crash the file readers."""

import json
import struct
import zlib
from pathlib import Path

import pytest

from apps.acoustics.io import PulseFileError, read_allpulses, read_weather
from apps.acoustics.wavfiles import AudioFileError, parse_wav_bytes, sensor_audio_from_smj0

RECORD = (
    '{"pulse_uuid": "p1", "serial_number": "S1", "arrival_time_utc": '
    '"2022-09-18T05:20:54.123Z", "location": {"x": %s, "y": 0, "z": 0}}'
)


def _smj0_wav(record: dict) -> bytes:
    """A two-sample mono WAV carrying ``record`` as its zlib-compressed smj0 chunk."""
    payload = zlib.compress(json.dumps(record).encode())
    body = (
        b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 12000, 24000, 2, 16)
        + b"data"
        + struct.pack("<I", 2)
        + b"\0\0"
        + b"smj0"
        + struct.pack("<I", len(payload))
        + payload
        + b"\0" * (len(payload) % 2)
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


@pytest.mark.parametrize("reader", [read_allpulses, read_weather])
def test_json_nested_too_deeply_is_a_pulse_file_error(tmp_path: Path, reader):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PulseFileError, match="nested too deeply"):
        reader(path)


def test_a_coordinate_beyond_any_float_is_a_pulse_file_error(tmp_path: Path):
    path = tmp_path / "huge.allpulses.json"
    path.write_text("[" + RECORD % ("1" + "0" * 400) + "]")
    with pytest.raises(PulseFileError, match="location.x is not finite"):
        read_allpulses(path)


def test_a_temperature_beyond_any_float_is_a_pulse_file_error(tmp_path: Path):
    path = tmp_path / "huge.weather.json"
    path.write_text('{"temperature": -1%s}' % ("0" * 400))
    with pytest.raises(PulseFileError, match="temperature is not finite"):
        read_weather(path)


def test_a_tiny_negative_wind_azimuth_stays_below_360(tmp_path: Path):
    path = tmp_path / "x.weather.json"
    path.write_text('{"temperature": 10, "direction": -2e-31}')
    assert read_weather(path).wind_from_deg == 0.0


def test_an_smj0_coordinate_beyond_any_float_is_an_audio_file_error():
    record = {
        "serialNumber": "SCP-1",
        "startTimeUTC": "2022-09-18T05:20:54.178Z",
        "geolocation": {"latitude": 10**400, "longitude": 0, "elevation": 0},
    }
    with pytest.raises(AudioFileError, match="geolocation.latitude is not finite"):
        sensor_audio_from_smj0(parse_wav_bytes(_smj0_wav(record)), source="x.wav")


def test_an_smj0_full_scale_beyond_any_float_is_ignored():
    """Found by hypothesis: fullScale = 10**400 raised OverflowError, not a clean result."""
    record = {
        "serialNumber": "SCP-1",
        "startTimeUTC": "2022-09-18T05:20:54.178Z",
        "geolocation": {"latitude": 40.4, "longitude": -79.9, "elevation": 300},
        "transducers": [{"fullScale": 10**400}],
    }
    audio = sensor_audio_from_smj0(parse_wav_bytes(_smj0_wav(record)), source="x.wav")
    assert audio.full_scale_db_spl is None
