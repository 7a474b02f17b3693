"""The coverage-guided harness (tests/security/atheris_parsers.py), bounded: no crash."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib

import pytest

from tests.conftest import REPO_ROOT

pytest.importorskip("atheris")  # requirements-dev.txt installs it

pytestmark = pytest.mark.slow

HARNESS = REPO_ROOT / "tests" / "security" / "atheris_parsers.py"
RUNS = 300_000


def _wav_with_smj0() -> bytes:
    record = {
        "serialNumber": "SCP-00-TEST-0001",
        "startTimeUTC": "2022-09-18T05:20:54.178Z",
        "geolocation": {"latitude": 41.69, "longitude": -87.63, "elevation": 195.6},
        "transducers": [{"channel": 0, "fullScale": 93.09}],
    }
    payload = zlib.compress(json.dumps(record).encode())
    pcm = struct.pack("<4h", 0, 1, -1, 300)
    body = (
        b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 12000, 24000, 2, 16)
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
        + b"smj0"
        + struct.pack("<I", len(payload))
        + payload
        + b"\0" * (len(payload) % 2)
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


SEEDS = {
    "wav": [_wav_with_smj0()],
    "allpulses": [
        json.dumps(
            [
                {
                    "pulse_uuid": "p-1",
                    "serial_number": "S-1",
                    "arrival_time_utc": "2022-09-18T05:20:54.123Z",
                    "location": {"x": 1.5, "y": -2.0, "z": 3.0},
                    "location_error": 1.0,
                    "signal_to_noise_dB": 20.0,
                    "power_dB_SPL": 110.0,
                    "rise_time_ms": 0.8,
                }
            ]
        ).encode(),
        b'{"temperature": 12.5, "speed": 3.0, "direction": 270}',
    ],
}


@pytest.mark.parametrize("target", sorted(SEEDS))
def test_the_coverage_guided_fuzzer_finds_no_crash(tmp_path, target):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index, seed in enumerate(SEEDS[target]):
        (corpus / f"seed-{index}").write_bytes(seed)
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            target,
            f"-runs={RUNS}",
            "-max_total_time=90",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {RUNS} runs" in result.stderr
    assert not list(tmp_path.glob("crash-*"))
