"""`manage.py detect_pulses`: JSON lines out, clear errors on unreadable input."""

from __future__ import annotations

import json
import re
import struct
import zlib
from datetime import datetime
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.acoustics.io import read_allpulses

FS = 12000
ISO_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def wav_bytes(samples: np.ndarray, *, extra: bytes = b"") -> bytes:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, FS, 2 * FS, 2, 16)
    body = b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    body += extra
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def gunshot_like(seconds: float, onsets_s: list[float], *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = rng.normal(0.0, 0.002, int(seconds * FS))
    t = np.arange(int(0.020 * FS)) / FS
    blast = 0.5 * (1 - t / 0.0015) * np.exp(-1.5 * t / 0.0015)
    for onset in onsets_s:
        i = int(round(onset * FS))
        audio[i : i + len(blast)] += blast
    return audio


def run(*paths, **options) -> tuple[list[dict], str]:
    out, err = StringIO(), StringIO()
    call_command("detect_pulses", *map(str, paths), stdout=out, stderr=err, **options)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def write_live_fire(folder: Path, *, serial: str = "SCP-00-TEST-0001") -> Path:
    wav = folder / f"test_001.audio.{serial}.wav"
    wav.write_bytes(wav_bytes(gunshot_like(2.0, [0.5, 1.25])))
    meta = {
        "serial_number": serial,
        "timestamp": "2018-12-19T00:49:26.000Z",
        "location": {"x": 1.0, "y": 2.0, "z": 3.0},
    }
    wav.with_suffix(".json").write_text(json.dumps(meta))
    return wav


def test_live_fire_layout_prints_one_json_line(tmp_path: Path):
    wav = write_live_fire(tmp_path)
    (record,), err = run(wav)
    assert err == ""
    assert record["source"] == str(wav)
    assert record["serial"] == "SCP-00-TEST-0001"
    assert record["position"] == {"x": 1.0, "y": 2.0, "z": 3.0}
    pulses = record["pulses"]
    assert len(pulses) == 2
    for pulse, onset in zip(pulses, (0.5, 1.25), strict=True):
        assert ISO_MICRO.match(pulse["arrival_time_utc"])
        t = datetime.fromisoformat(pulse["arrival_time_utc"].replace("Z", "+00:00")).timestamp()
        assert abs(t - (1545180566.0 + onset)) <= 0.0005
        assert pulse["power_db_spl"] == pytest.approx(93.1 + 20 * np.log10(0.5), abs=1.0)
        assert pulse["signal_to_noise_db"] > 20
        assert "spectral_centroid_hz" in pulse["features"]
    # Deterministic ids: running again yields the same pulse_uuids.
    (again,), _ = run(wav)
    assert [p["pulse_uuid"] for p in again["pulses"]] == [p["pulse_uuid"] for p in pulses]


def test_smj0_layout(tmp_path: Path):
    meta = {
        "serialNumber": "SCP-00-BNG-0002",
        "startTimeUTC": "2022-09-18T05:20:54.178Z",
        "geolocation": {"latitude": 41.7, "longitude": -87.6, "elevation": 195.0},
        "transducers": [{"fullScale": 100.0}],
    }
    payload = zlib.compress(json.dumps(meta).encode())
    extra = b"smj0" + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) % 2)
    wav = tmp_path / "clip.wav"
    wav.write_bytes(wav_bytes(gunshot_like(2.0, [1.0]), extra=extra))
    (record,), _ = run(wav, no_features=True)
    assert record["serial"] == "SCP-00-BNG-0002"
    assert record["position"]["latitude"] == 41.7
    (pulse,) = record["pulses"]
    assert pulse["arrival_time_utc"].startswith("2022-09-18T05:20:55.17")
    assert pulse["features"] == {}
    # The file's own full scale (100 dB) calibrates power.
    assert pulse["power_db_spl"] == pytest.approx(100.0 + 20 * np.log10(0.5), abs=1.0)


def test_unreadable_inputs_exit_non_zero_with_a_message(tmp_path: Path):
    good = write_live_fire(tmp_path)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:5000])
    truncated.with_suffix(".json").write_text(good.with_suffix(".json").read_text())
    orphan = tmp_path / "orphan.wav"
    orphan.write_bytes(good.read_bytes())
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(good.read_bytes())
    garbage.with_suffix(".json").write_text("{nope")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="3 of 4 file"):
        call_command(
            "detect_pulses",
            str(good),
            str(truncated),
            str(orphan),
            str(garbage),
            stdout=out,
            stderr=err,
        )
    assert len(out.getvalue().splitlines()) == 1  # the good file still printed
    messages = err.getvalue()
    assert "truncated" in messages
    assert "neither an smj0 chunk nor a companion" in messages
    assert "not valid JSON" in messages


def test_bad_threshold_is_refused(tmp_path: Path):
    with pytest.raises(CommandError, match="threshold"):
        run(write_live_fire(tmp_path), threshold=-1.0)


def test_live_fire_audio_matches_published_pulses(shared_data: Path):
    folder = shared_data / "pittsburgh-live-fire" / "FP3" / "test_037"
    wavs = sorted(folder.glob("*.audio.*.wav")) if folder.is_dir() else []
    if not wavs:
        pytest.skip(f"no live-fire audio at {folder}")
    tuples = json.loads(next(folder.glob("*.nlos-tuples.json")).read_text())
    selected = {u for shot in tuples for u in shot["pulse_uuids"]}
    published = read_allpulses(next(folder.glob("*.allpulses.json")))
    records, _ = run(*wavs, no_features=True)
    assert len(records) == len(wavs)
    found = total = 0
    for record in records:
        times = np.array(
            [
                datetime.fromisoformat(p["arrival_time_utc"].replace("Z", "+00:00")).timestamp()
                for p in record["pulses"]
            ]
        )
        for pulse in published:
            if pulse.sensor_id == record["serial"] and pulse.pulse_uuid in selected:
                total += 1
                found += bool(len(times)) and np.min(np.abs(times - pulse.t)) <= 0.002
    assert total >= 10
    assert found / total >= 0.9  # measured 18/18
