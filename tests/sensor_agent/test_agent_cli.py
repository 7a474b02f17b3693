"""The agent as a program: WAV input -> detected pulses -> the real server; no Django inside."""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from apps.sensor_agent.__main__ import main
from apps.sensor_agent.agent import SensorAgent
from apps.sensor_agent.ringbuffer import wav_bytes
from apps.sensors.models import SensorPulse
from apps.sensors.signing import generate_private_key, private_key_pem
from tests.conftest import REPO_ROOT
from tests.factories import AgencyFactory
from tests.sensor_agent.support import agent_config, impulses_audio
from tests.sensors.support import register

RATE = 12_000
IMPULSES_S = [1.5, 4.0, 4.3, 7.25, 10.0]


def test_the_agent_package_does_not_import_django():
    code = (
        "import sys\n"
        "import apps.sensor_agent.__main__, apps.sensor_agent.agent, apps.sensor_agent.sources\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_streaming_code_path_exists():
    """Audio is uploaded from exactly one place: the answer to an audio request."""
    package = REPO_ROOT / "apps" / "sensor_agent"
    uploads = {
        path.name: path.read_text().count("put_wav(")
        for path in package.glob("*.py")
        if "put_wav(" in path.read_text()
    }
    assert uploads == {"client.py": 1, "agent.py": 1}  # definition + the one call
    # In the agent, the upload, the WAV encoding and the buffer cut all live in one method.
    tree = ast.parse((package / "agent.py").read_text())
    [agent_class] = [n for n in tree.body if getattr(n, "name", "") == "SensorAgent"]
    for name in ("put_wav", "wav_bytes", "cut"):
        users = {
            method.name
            for method in agent_class.body
            if isinstance(method, ast.FunctionDef)
            for node in ast.walk(method)
            if isinstance(node, ast.Call)
            and name in (getattr(node.func, "attr", None), getattr(node.func, "id", None))
        }
        assert users == {"answer_audio_request"}, (name, users)


def test_the_stream_detector_finds_each_impulse_once_across_chunks(tmp_path):
    audio = impulses_audio(seconds=12, rate=RATE, times_s=IMPULSES_S)
    start = time.time() - 60
    config = agent_config(tmp_path, server_url="http://127.0.0.1:9")
    agent = SensorAgent(config, private_key=generate_private_key())
    try:
        found = []
        for first in range(0, len(audio), 2 * RATE):  # 2 s chunks
            found += agent.ingest_audio(
                audio[first : first + 2 * RATE], sample_rate=RATE, start=start + first / RATE
            )
        found += agent.end_of_input()
        times = sorted(
            dt.datetime.fromisoformat(p["arrival_time_utc"]).timestamp() - start for p in found
        )
        assert len(times) == len(IMPULSES_S)
        np.testing.assert_allclose(times, IMPULSES_S, atol=0.002)
        assert len(agent.outbox) == len(IMPULSES_S)
        for pulse in found:  # summary numbers only
            assert set(pulse) == {
                "pulse_uuid",
                "arrival_time_utc",
                "power_db_spl",
                "signal_to_noise_db",
                "features",
            }
            assert all(isinstance(v, float) for v in pulse["features"].values())
            assert len(json.dumps(pulse["features"])) < 2048
        # The audio itself went to the ring buffer only.
        assert agent.buffer.status()["segments"] == 1
    finally:
        agent.close()


@pytest.mark.django_db(transaction=True)
def test_agent_program_sends_the_pulses_of_a_wav_file_to_the_server(tmp_path, live_server):
    _, key = register(agency=AgencyFactory(system_id="312"), serial="S-0001")
    (tmp_path / "key.pem").write_bytes(private_key_pem(key))
    # The server's public key, as an operator provisions it (manage.py server_public_key).
    call_command("server_public_key", "--out", str(tmp_path / "server.pem"), stdout=io.StringIO())
    (tmp_path / "clip.wav").write_bytes(
        wav_bytes(
            np.round(impulses_audio(seconds=12, rate=RATE, times_s=IMPULSES_S) * 32768).astype(
                np.int16
            ),
            RATE,
        )
    )
    (tmp_path / "agent.toml").write_text(
        f'server_url = "{live_server.url}"\n'
        'serial = "S-0001"\nprivate_key = "key.pem"\nserver_public_key = "server.pem"\n'
        'data_dir = "data"\nbuffer_retention_hours = 48\nbatch_interval_s = 0.1\n'
        "[position]\nlatitude = 40.7\nlongitude = -89.6\nelevation_m = 190.0\n"
        '[input]\ntype = "wav-files"\npaths = ["clip.wav"]\ntimestamps = "now"\nchunk_s = 3\n'
    )
    began = time.time()
    assert main(["--config", str(tmp_path / "agent.toml"), "--exit-when-done"]) == 0

    stored = list(SensorPulse.objects.order_by("arrival_time"))
    assert len(stored) == len(IMPULSES_S)
    offsets = [p.arrival_time.timestamp() - stored[0].arrival_time.timestamp() for p in stored]
    np.testing.assert_allclose(offsets, np.array(IMPULSES_S) - IMPULSES_S[0], atol=0.002)
    # "now" timestamps: the file is taken to have just ended when the agent read it.
    assert began - 13 < stored[0].arrival_time.timestamp() < began
    assert all(p.sensor.serial_number == "S-0001" for p in stored)
    # The audio stayed on the sensor, in its ring buffer.
    assert list((tmp_path / "data" / "audio").glob("seg-*.wav"))


def test_agent_program_refuses_a_bad_config_clearly(tmp_path, capsys):
    (tmp_path / "agent.toml").write_text(
        'server_url = "http://127.0.0.1:8000"\nserial = "S-1"\nprivate_key = "k.pem"\n'
        'server_public_key = "s.pem"\ndata_dir = "data"\nbuffer_retention_hours = 100\n'
    )
    assert main(["--config", str(tmp_path / "agent.toml")]) == 2
    err = capsys.readouterr().err
    assert "buffer_retention_hours" in err and "72" in err

    (tmp_path / "agent.toml").write_text(
        'server_url = "http://127.0.0.1:8000"\nserial = "S-1"\nprivate_key = "k.pem"\n'
        'server_public_key = "s.pem"\ndata_dir = "data"\n'
    )
    assert main(["--config", str(tmp_path / "agent.toml")]) == 2
    assert "cannot read the private key" in capsys.readouterr().err


def test_directory_input_reads_each_new_file_once_across_restarts(tmp_path):
    import threading

    from apps.sensor_agent import sources

    feed = tmp_path / "feed"
    feed.mkdir()
    audio = np.round(impulses_audio(seconds=3, rate=RATE, times_s=[1.0]) * 32768).astype(np.int16)
    for name in ("a.wav", "b.wav"):
        (feed / name).write_bytes(wav_bytes(audio, RATE))

    def read_all() -> list:
        stop = threading.Event()
        chunks = []
        for chunk in sources.wav_directory(
            feed,
            state_file=tmp_path / "done.txt",
            timestamps="now",
            realtime=False,
            chunk_s=1.0,
            poll_interval_s=0.05,
            stop=stop,
            settle_s=0.0,
        ):
            chunks.append(chunk)
            if len(chunks) >= 6:
                stop.set()
        return chunks

    chunks = read_all()
    assert sorted({Path(c.source).name for c in chunks}) == ["a.wav", "b.wav"]
    assert sum(len(c.samples) for c in chunks) == 2 * len(audio)
    # A restart does not read them again; a new file is read.
    (feed / "c.wav").write_bytes(wav_bytes(audio[: 2 * RATE], RATE))
    stop = threading.Event()
    fresh = []
    for chunk in sources.wav_directory(
        feed,
        state_file=tmp_path / "done.txt",
        timestamps="now",
        realtime=False,
        chunk_s=1.0,
        poll_interval_s=0.05,
        stop=stop,
        settle_s=0.0,
    ):
        fresh.append(chunk)
        if len(fresh) == 2:
            stop.set()
    assert {Path(c.source).name for c in fresh} == {"c.wav"}

    # Stopped part-way through a file: the next start reads that file again, whole.
    (feed / "d.wav").write_bytes(wav_bytes(audio, RATE))
    for stop_after in (1, 3):
        stop = threading.Event()
        got = []
        for chunk in sources.wav_directory(
            feed,
            state_file=tmp_path / "done.txt",
            timestamps="now",
            realtime=False,
            chunk_s=1.0,
            poll_interval_s=0.05,
            stop=stop,
            settle_s=0.0,
        ):
            got.append(chunk)
            if len(got) == stop_after:
                stop.set()
        assert [Path(c.source).name for c in got] == ["d.wav"] * stop_after
    assert "d.wav" in (tmp_path / "done.txt").read_text().split()


def test_wav_without_a_time_is_refused_when_file_times_are_required(tmp_path, caplog):
    from apps.sensor_agent import sources

    path = tmp_path / "plain.wav"
    path.write_bytes(wav_bytes(np.zeros(RATE, dtype=np.int16), RATE))
    chunks = list(sources.wav_files([path], timestamps="file", realtime=False, chunk_s=1.0))
    assert chunks == []
    assert "no time of first sample" in caplog.text
