"""The agent's audio ring buffer: purge at the retention (<= 72 h), exact cuts, config."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from apps.acoustics.wavfiles import read_wav
from apps.sensor_agent.agent import SensorAgent
from apps.sensor_agent.config import ConfigError, config_from_dict, load_config
from apps.sensor_agent.ringbuffer import BufferError, RingBuffer
from apps.sensors.signing import generate_private_key
from tests.sensor_agent.support import agent_config, ramp

RATE = 12_000
HOUR = 3600.0


def test_purge_deletes_audio_older_than_the_retention_and_keeps_newer(tmp_path):
    buffer = RingBuffer(tmp_path, retention_hours=72)
    now = 1_790_000_000.0
    ages_h = [80, 72.5, 71.9, 30, 0.1]
    for age in ages_h:
        buffer.write(ramp(RATE), sample_rate=RATE, start=now - age * HOUR)
    assert len(buffer.segments()) == 5

    removed = buffer.purge(now=now)

    assert removed == 2
    left = sorted(round((now - s.start) / HOUR, 1) for s in buffer.segments())
    assert left == [0.1, 30.0, 71.9]
    assert all(now - s.start <= 72 * HOUR for s in buffer.segments())


def test_lower_retention_purges_sooner(tmp_path):
    buffer = RingBuffer(tmp_path, retention_hours=1)
    now = time.time()
    buffer.write(ramp(RATE), sample_rate=RATE, start=now - 2 * HOUR)
    buffer.write(ramp(RATE), sample_rate=RATE, start=now - 0.5 * HOUR)
    assert buffer.purge(now=now) == 1
    assert [round((now - s.start) / HOUR, 2) for s in buffer.segments()] == [0.5]


def test_agent_purges_at_start_up(tmp_path):
    old = RingBuffer(tmp_path / "audio", retention_hours=72)
    now = time.time()
    old.write(ramp(RATE), sample_rate=RATE, start=now - 73 * HOUR)
    old.write(ramp(RATE), sample_rate=RATE, start=now - 60)
    config = agent_config(tmp_path, server_url="http://127.0.0.1:9", buffer_retention_hours=24)
    agent = SensorAgent(config, private_key=generate_private_key())
    try:
        segments = agent.buffer.segments()
        assert len(segments) == 1
        assert now - segments[0].start == pytest.approx(60, abs=1)
    finally:
        agent.close()


def test_agent_tick_purges_on_its_timer(tmp_path):
    clock = [time.time()]
    config = agent_config(
        tmp_path,
        server_url="http://127.0.0.1:9",
        buffer_retention_hours=1,
        purge_interval_s=60,
        heartbeat_interval_s=3600,
        audio_poll_interval_s=3600,
    )
    agent = SensorAgent(config, private_key=generate_private_key(), clock=lambda: clock[0])
    try:
        agent.buffer.write(ramp(RATE), sample_rate=RATE, start=clock[0] - 10)
        agent.timers.next_heartbeat = agent.timers.next_poll = clock[0] + 1e6
        agent.tick()
        assert len(agent.buffer.segments()) == 1
        clock[0] += HOUR + 120  # an hour later the timer fires and the segment is old
        agent.tick()
        assert agent.buffer.segments() == []
    finally:
        agent.close()


def test_no_sample_is_ever_on_disk_longer_than_the_retention(tmp_path):
    """Between two purges audio keeps ageing: the agent purges as of the next purge, so
    at no moment is a sample older than the retention (it was up to one interval)."""
    clock = [1_790_000_000.0]
    config = agent_config(
        tmp_path,
        server_url="http://127.0.0.1:9",
        buffer_retention_hours=1,
        purge_interval_s=60,
        heartbeat_interval_s=3600,
        audio_poll_interval_s=3600,
    )
    agent = SensorAgent(config, private_key=generate_private_key(), clock=lambda: clock[0])
    try:
        agent.timers.next_heartbeat = agent.timers.next_poll = clock[0] + 1e6
        start = clock[0]
        for k in range(12):  # a segment every 7 s, ages 0 s to 77 s
            agent.buffer.write(ramp(RATE), sample_rate=RATE, start=start - 7 * k)
        oldest_seen = 0.0
        while clock[0] < start + HOUR + 300:
            agent.tick()
            ages = [clock[0] - s.start for s in agent.buffer.segments()]
            oldest_seen = max([oldest_seen, *ages])
            clock[0] += 5
        assert agent.buffer.segments() == []
        assert 0 < oldest_seen <= HOUR
    finally:
        agent.close()


@pytest.mark.parametrize("hours", [72.01, 73, 100, 1e9])
def test_retention_above_72_hours_is_refused(tmp_path, hours):
    with pytest.raises(ConfigError, match="at most 72 hours|can only be lowered"):
        agent_config(tmp_path, server_url="https://x.example", buffer_retention_hours=hours)
    with pytest.raises(BufferError, match="at most 72 hours"):
        RingBuffer(tmp_path / "audio", retention_hours=hours)


@pytest.mark.parametrize("hours", [0, -1, float("nan"), "48", True])
def test_retention_must_be_a_positive_number(tmp_path, hours):
    with pytest.raises(ConfigError, match="buffer_retention_hours"):
        agent_config(tmp_path, server_url="https://x.example", buffer_retention_hours=hours)


def test_retention_can_be_lowered(tmp_path):
    config = agent_config(tmp_path, server_url="https://x.example", buffer_retention_hours=12)
    assert config.retention_s == 12 * HOUR


def test_config_file_refuses_retention_above_72_with_the_file_named(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(
        'server_url = "http://127.0.0.1:8000"\nserial = "S-1"\nprivate_key = "k.pem"\n'
        'server_public_key = "s.pem"\ndata_dir = "data"\nbuffer_retention_hours = 96\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert "96" in str(caught.value) and "72" in str(caught.value)


def test_config_errors_are_clear(tmp_path):
    base = {"serial": "S-1", "private_key": "k.pem", "server_public_key": "s.pem", "data_dir": "d"}
    cases = [
        ({**base, "server_url": "ftp://x"}, "server_url must be an http"),
        ({**base, "server_url": "https://x", "batch_max_pulses": 5000}, "at most 1000"),
        ({**base, "server_url": "https://x", "colour": "red"}, "unknown setting.*colour"),
        ({**base, "server_url": "https://x", "input": {"type": "mic"}}, "input.type"),
        ({**base, "server_url": "https://x", "input": {"type": "wav-files"}}, "input.paths"),
        ({"server_url": "https://x", "serial": "S-1", "data_dir": "d"}, "private_key"),
    ]
    for raw, message in cases:
        with pytest.raises(ConfigError, match=message):
            config_from_dict(raw, base=tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_segments_are_one_minute_wav_files_named_by_first_sample_time(tmp_path):
    buffer = RingBuffer(tmp_path)
    start = 1_790_000_000.25
    for k in range(30):  # 150 s of audio in 5 s chunks
        buffer.write(ramp(5 * RATE, 5 * RATE * k), sample_rate=RATE, start=start + 5 * k)
    segments = buffer.segments()
    assert [round(s.start - start, 6) for s in segments] == [0.0, 60.0, 120.0]
    assert [s.n_samples for s in segments] == [60 * RATE, 60 * RATE, 30 * RATE]
    content = read_wav(segments[1].path)  # a valid WAV on disk
    assert content.sample_rate == RATE and len(content.samples) == 60 * RATE


def test_cut_returns_exactly_the_window(tmp_path):
    buffer = RingBuffer(tmp_path)
    start = 1_790_000_000.0
    buffer.write(ramp(150 * RATE), sample_rate=RATE, start=start)
    clip = buffer.cut(start + 58.5, start + 64.5, now=start + 200)
    assert clip.start == pytest.approx(start + 58.5, abs=1e-6)
    assert len(clip.samples) == 6 * RATE
    np.testing.assert_array_equal(clip.samples, ramp(6 * RATE, int(58.5 * RATE)))
    # A window between samples starts at the next sample and never before the window.
    clip = buffer.cut(start + 10.00004, start + 11.0, now=start + 200)
    assert clip.start >= start + 10.00004
    assert clip.start - (start + 10.00004) < 1 / RATE
    assert clip.end <= start + 11.0 + 1e-9


def test_cut_keeps_to_the_buffer_and_the_retention(tmp_path):
    buffer = RingBuffer(tmp_path, retention_hours=1)
    start = 1_790_000_000.0
    buffer.write(ramp(20 * RATE), sample_rate=RATE, start=start)
    # Partly before the buffer: only the buffered part.
    clip = buffer.cut(start - 5, start + 3, now=start + 30)
    assert clip.start == pytest.approx(start) and clip.duration_s == pytest.approx(3)
    # Entirely outside: nothing.
    assert buffer.cut(start + 30, start + 36, now=start + 60) is None
    assert buffer.cut(start - 60, start - 54, now=start + 60) is None
    # Older than the retention but not yet purged: never returned.
    assert buffer.cut(start, start + 6, now=start + HOUR + 60) is None


def test_cut_fills_gaps_between_segments_with_silence_on_an_exact_time_axis(tmp_path):
    buffer = RingBuffer(tmp_path)
    start = 1_790_000_000.0
    buffer.write(ramp(2 * RATE), sample_rate=RATE, start=start)
    buffer.write(ramp(2 * RATE, 7), sample_rate=RATE, start=start + 3)  # 1 s gap
    clip = buffer.cut(start + 1, start + 4, now=start + 10)
    assert clip.start == pytest.approx(start + 1) and len(clip.samples) == 3 * RATE
    assert not clip.samples[RATE : 2 * RATE].any()
    np.testing.assert_array_equal(clip.samples[2 * RATE :], ramp(RATE, 7))


def test_bad_audio_is_refused(tmp_path):
    buffer = RingBuffer(tmp_path)
    with pytest.raises(BufferError, match="NaN"):
        buffer.write(np.array([0.1, np.nan]), sample_rate=RATE, start=1.0e9)
    with pytest.raises(BufferError, match="sample rate"):
        buffer.write(ramp(10), sample_rate=12.5, start=1.0e9)
    with pytest.raises(BufferError, match="mono"):
        buffer.write(np.zeros((10, 2), dtype=np.int16), sample_rate=RATE, start=1.0e9)
    assert os.listdir(tmp_path) == []


def test_cut_never_returns_a_sample_outside_random_windows(tmp_path):
    buffer = RingBuffer(tmp_path)
    start = 1_790_000_000.123456789  # not on a whole microsecond
    buffer.write(ramp(28_800), sample_rate=RATE, start=start)  # 2.4 s, values = indices
    [segment] = buffer.segments()
    rng = np.random.default_rng(5)
    for _ in range(500):
        lo = start + rng.uniform(-1, 2.5)
        hi = lo + rng.uniform(0.00001, 2)
        clip = buffer.cut(lo, hi, now=start + 100)
        if clip is None:
            assert hi <= segment.start or lo >= segment.end
            continue
        index = clip.samples.astype(int) + 15000
        times = segment.start + index / RATE
        assert times[0] >= lo - 1e-6 and times[-1] < hi
        assert clip.start == pytest.approx(times[0], abs=1e-6)
        # ... and nothing inside the window and the buffer is left out (but the margin).
        assert times[0] - max(lo, segment.start) < 1 / RATE + 1e-6
        assert min(hi, segment.end) - times[-1] < 1 / RATE * 1.06 + 1e-6
