"""Audio requests: the agent uploads only the requested window, and only when asked.

The server's audio-request endpoints were not in the repository when this was written,
so these tests run the agent against a local stub HTTP server (real sockets, real signed
requests) that serves requests and records every upload.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms

from apps.acoustics.wavfiles import parse_wav_bytes
from apps.sensor_agent.agent import SensorAgent
from apps.sensor_agent.client import AUDIO_START_HEADER, parse_utc, utc_iso
from apps.sensors.signing import generate_private_key
from tests.sensor_agent.support import agent_config, audio_request, ramp, record_ten_minutes

RATE = 12_000


@pytest.fixture
def key():
    return generate_private_key()


@pytest.fixture
def agent(tmp_path, stub, key):
    agent = SensorAgent(
        agent_config(tmp_path, server_url=stub.url, server_key=stub.public_key), private_key=key
    )
    yield agent
    agent.close()


@pytest.fixture
def recorded(agent):
    """Ten minutes of buffered audio that ended 30 s ago; returns its start time."""
    return record_ten_minutes(agent.buffer, rate=RATE)


class _Resolver(HTTPSignatureKeyResolver):
    def __init__(self, key: ed25519.Ed25519PublicKey):
        self.key = key

    def resolve_public_key(self, key_id):
        return self.key


class _Message:
    def __init__(self, entry, base_url):
        self.method = entry["method"]
        self.url = base_url + entry["path"]
        self.headers = entry["headers"]


def verify(entry, base_url, public_key) -> list[str]:
    """Verify the recorded request's signature; return the covered components."""
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_Resolver(public_key)
    )
    [result] = verifier.verify(_Message(entry, base_url))
    return list(result.covered_components)


def test_uploads_exactly_the_requested_window(agent, stub, key, recorded):
    start, end = recorded + 100.25, recorded + 106.25  # 2 s before, 4 s after
    stub.audio_requests = [audio_request(7, start, end)]

    [answer] = agent.poll_audio_requests()

    assert answer.outcome == "sent"
    [put] = stub.puts()
    assert put["path"] == "/api/v1/sensor/audio-requests/7"
    assert put["headers"]["content-type"] == "audio/wav"
    assert parse_utc(put["headers"][AUDIO_START_HEADER.lower()]) == pytest.approx(start, abs=1e-6)
    wav = parse_wav_bytes(put["body"])
    assert wav.sample_rate == RATE
    assert len(wav.samples) == 6 * RATE  # the window's length, not a sample more
    pcm = np.round(wav.samples * 32768).astype(np.int16)
    np.testing.assert_array_equal(pcm, ramp(6 * RATE, int(100.25 * RATE)))
    covered = {str(c).strip('"') for c in verify(put, stub.url, key.public_key())}
    assert covered >= {
        "@method",
        "@target-uri",
        "content-digest",
        "content-type",
        "audio-start-utc",
    }
    # Answered once: a later poll that still lists the request uploads nothing more.
    assert agent.poll_audio_requests() == []
    assert len(stub.puts()) == 1


def test_a_window_outside_the_buffer_sends_nothing(agent, stub, recorded):
    stub.audio_requests = [
        audio_request(1, recorded - 3600, recorded - 3594),  # before the buffer
        audio_request(2, recorded - 20, recorded - 14),  # just before it
    ]
    answers = agent.poll_audio_requests()
    assert {a.outcome for a in answers} == {"not-buffered"}
    assert stub.puts() == []


def test_a_window_partly_in_the_buffer_sends_only_the_buffered_part_inside_it(
    agent, stub, recorded
):
    stub.audio_requests = [audio_request(3, recorded - 2.0, recorded + 4.0)]
    [answer] = agent.poll_audio_requests()
    assert answer.outcome == "sent"
    [put] = stub.puts()
    clip_start = parse_utc(put["headers"][AUDIO_START_HEADER.lower()])
    wav = parse_wav_bytes(put["body"])
    assert clip_start == pytest.approx(recorded, abs=1e-6)
    assert len(wav.samples) == 4 * RATE
    assert clip_start >= recorded - 2.0 and clip_start + len(wav.samples) / RATE <= recorded + 4.0


def test_requests_too_long_expired_or_at_another_rate_are_refused(agent, stub, recorded):
    stub.audio_requests = [
        audio_request(4, recorded + 10, recorded + 10 + 121),  # longer than the agent allows
        audio_request(5, recorded + 10, recorded + 16, expires_at=utc_iso(time.time() - 1)),
        audio_request(6, recorded + 10, recorded + 16, sample_rate=48_000),
        audio_request(8, recorded + 16, recorded + 10),  # end before start
    ]
    answers = {a.request_id: a for a in agent.poll_audio_requests()}
    assert {k: a.outcome for k, a in answers.items()} == {
        4: "refused",
        5: "refused",
        6: "refused",
        8: "refused",
    }
    assert "exceeds" in answers[4].detail and "expired" in answers[5].detail
    assert stub.puts() == []


def test_a_window_not_yet_recorded_waits_for_its_audio(agent, stub):
    now = float(int(time.time()))  # whole seconds: the window falls on samples
    agent.buffer.write(ramp(10 * RATE), sample_rate=RATE, start=now - 10)
    stub.audio_requests = [audio_request(9, now - 2, now + 4)]  # the last 4 s are still to come
    [answer] = agent.poll_audio_requests()
    assert answer.outcome == "waiting" and stub.puts() == []
    agent.buffer.write(ramp(5 * RATE), sample_rate=RATE, start=now)  # recorded now
    [answer] = agent.poll_audio_requests()
    assert answer.outcome == "sent"
    wav = parse_wav_bytes(stub.puts()[0]["body"])
    assert len(wav.samples) == 6 * RATE


def test_no_request_no_audio(agent, stub, recorded):
    """Heartbeats, pulses and polls send no audio; nothing is uploaded unasked."""
    stub.audio_requests = []
    agent.heartbeat()
    agent.queue_pulses(
        [
            {
                "pulse_uuid": "0b6f7d3e-8f0e-4a35-9d0c-7f1c3f7b5e11",
                "arrival_time_utc": utc_iso(recorded + 5),
                "power_db_spl": 100.0,
                "signal_to_noise_db": 20.0,
                "features": {},
            }
        ]
    )
    agent.send_pending(force=True)
    assert agent.poll_audio_requests() == []
    assert stub.puts() == []
    for entry in stub.received:
        assert not entry["body"].startswith(b"RIFF")
        assert len(entry["body"]) < 2000


def test_a_server_refusal_is_final_and_not_retried(agent, stub, recorded):
    stub.put_status = 410
    stub.audio_requests = [audio_request(11, recorded + 1, recorded + 7)]
    [answer] = agent.poll_audio_requests()
    assert answer.outcome == "server-410"
    assert agent.poll_audio_requests() == []
    assert len(stub.puts()) == 1
