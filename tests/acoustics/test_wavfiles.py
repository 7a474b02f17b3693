"""WAV / smj0 reading: real files when present, hand-built files, and fuzzing."""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.acoustics.wavfiles import (
    MAX_SMJ0_BYTES,
    AudioFileError,
    decode_smj0,
    parse_wav_bytes,
    read_live_fire_audio,
    read_sensor_audio,
    walk_riff_chunks,
)

SMJ0 = {
    "serialNumber": "SCP-00-TEST-0001",
    "startTimeUTC": "2022-09-18T05:20:54.178Z",
    "duration": 0.5,
    "geolocation": {"latitude": 41.697987, "longitude": -87.633597, "elevation": 195.6},
    "transducers": [{"channel": 0, "fullScale": 93.09}],
}


def chunk(chunk_id: bytes, payload: bytes, *, size: int | None = None) -> bytes:
    declared = len(payload) if size is None else size
    return chunk_id + struct.pack("<I", declared) + payload + (b"\0" if len(payload) % 2 else b"")


def fmt_chunk(*, rate: int = 12000, channels: int = 1, bits: int = 16, tag: int = 1) -> bytes:
    align = channels * bits // 8
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits))


def wav_bytes(pcm: np.ndarray, *, extra: bytes = b"", rate: int = 12000) -> bytes:
    body = fmt_chunk(rate=rate) + chunk(b"data", pcm.astype("<i2").tobytes()) + extra
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def smj0_chunk(record=SMJ0) -> bytes:
    return chunk(b"smj0", zlib.compress(json.dumps(record).encode()))


def test_reads_pcm_samples_and_rate():
    pcm = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    content = parse_wav_bytes(wav_bytes(pcm, rate=8000))
    assert content.sample_rate == 8000
    assert content.samples.dtype == np.float32
    np.testing.assert_allclose(content.samples, pcm / 32768.0)
    assert content.smj0 is None
    assert [c.chunk_id for c in content.chunks] == ["fmt ", "data"]


def test_smj0_chunk_is_decoded_and_gives_time_and_place(tmp_path: Path):
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes(np.zeros(6000, dtype=np.int16), extra=smj0_chunk()))
    audio = read_sensor_audio(path)
    assert audio.serial == "SCP-00-TEST-0001"
    assert audio.start_time == pytest.approx(1663478454.178, abs=1e-6)
    assert audio.position == SMJ0["geolocation"]
    assert audio.full_scale_db_spl == pytest.approx(93.09)
    assert audio.duration_s == pytest.approx(0.5)


def test_live_fire_wav_pairs_with_companion_json(tmp_path: Path):
    wav = tmp_path / "test_001.audio.SCP-00-BNG-5567.wav"
    wav.write_bytes(wav_bytes(np.arange(100, dtype=np.int16)))
    meta = {
        "serial_number": "SCP-00-BNG-5567",
        "timestamp": "2018-12-19T00:49:26.000Z",
        "location": {"x": -11625.39, "y": 3373.84, "z": -125.09},
    }
    wav.with_suffix(".json").write_text(json.dumps(meta))
    audio = read_live_fire_audio(wav)
    assert audio.serial == "SCP-00-BNG-5567"
    assert audio.start_time == pytest.approx(1545180566.0)
    assert audio.position == {"x": -11625.39, "y": 3373.84, "z": -125.09}
    assert read_sensor_audio(wav).start_time == audio.start_time


def test_missing_companion_json_is_a_clear_error(tmp_path: Path):
    wav = tmp_path / "test_001.audio.X.wav"
    wav.write_bytes(wav_bytes(np.zeros(10, dtype=np.int16)))
    with pytest.raises(AudioFileError, match="companion"):
        read_live_fire_audio(wav)
    with pytest.raises(AudioFileError, match="neither an smj0 chunk nor a companion"):
        read_sensor_audio(wav)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"serial_number": "A", "timestamp": "2018-12-19T00:49:26Z"}', "missing field location"),
        (
            '{"serial_number": "A", "timestamp": "yesterday", "location": {"x":1,"y":2,"z":3}}',
            "bad timestamp",
        ),
        (
            '{"serial_number": "A", "timestamp": "2018-12-19T00:49:26Z", "location": {"x":1}}',
            "missing y",
        ),
    ],
)
def test_bad_companion_json(tmp_path: Path, text: str, message: str):
    wav = tmp_path / "a.wav"
    wav.write_bytes(wav_bytes(np.zeros(10, dtype=np.int16)))
    wav.with_suffix(".json").write_text(text)
    with pytest.raises(AudioFileError, match=message):
        read_live_fire_audio(wav)


def test_truncated_data_chunk_is_reported():
    data = wav_bytes(np.zeros(1000, dtype=np.int16))
    with pytest.raises(AudioFileError, match="truncated"):
        parse_wav_bytes(data[:-100])


@pytest.mark.parametrize(
    "fmt, message",
    [
        (fmt_chunk(bits=8), "only 16-bit"),
        (fmt_chunk(channels=2), "only mono"),
        (fmt_chunk(tag=3), "not PCM"),
        (fmt_chunk(rate=10), "implausible sample rate"),
    ],
)
def test_unsupported_formats(fmt: bytes, message: str):
    body = fmt + chunk(b"data", b"\0" * 16)
    data = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    with pytest.raises(AudioFileError, match=message):
        parse_wav_bytes(data)


def test_not_a_wav_and_missing_chunks(tmp_path: Path):
    with pytest.raises(AudioFileError, match="not a RIFF/WAVE"):
        parse_wav_bytes(b"ID3\x03" + b"\0" * 100)
    body = fmt_chunk()
    with pytest.raises(AudioFileError, match="no data chunk"):
        parse_wav_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    with pytest.raises(AudioFileError, match="cannot read"):
        read_sensor_audio(tmp_path / "absent.wav")


def test_lying_chunk_size_is_reported():
    body = fmt_chunk() + chunk(b"data", b"\0" * 8, size=0x7FFFFFF0)
    data = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    with pytest.raises(AudioFileError, match="declares"):
        walk_riff_chunks(data)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"not zlib at all", "not a zlib stream"),
        (zlib.compress(b"{")[:-3], "truncated zlib|not a zlib"),
        (zlib.compress(b"[1]"), "expected a JSON object"),
        (zlib.compress(b"\xff\xfe"), "not valid UTF-8 JSON"),
        (zlib.compress(b"{" + b" " * (2 * 1024 * 1024) + b"}"), "inflates to more than"),
        (b"\0" * (MAX_SMJ0_BYTES + 1), "exceeds"),
    ],
)
def test_corrupt_or_oversized_smj0(payload: bytes, message: str):
    with pytest.raises(AudioFileError, match=message):
        decode_smj0(payload)


def test_smj0_without_required_fields(tmp_path: Path):
    record = {k: v for k, v in SMJ0.items() if k != "geolocation"}
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(np.zeros(10, dtype=np.int16), extra=smj0_chunk(record)))
    with pytest.raises(AudioFileError, match="missing field geolocation"):
        read_sensor_audio(path)
    record = dict(SMJ0, startTimeUTC="2022-09-18 05:20:54")
    path.write_bytes(wav_bytes(np.zeros(10, dtype=np.int16), extra=smj0_chunk(record)))
    with pytest.raises(AudioFileError, match="startTimeUTC"):
        read_sensor_audio(path)


def _valid_example() -> bytes:
    return wav_bytes(np.arange(-50, 50, dtype=np.int16) * 300, extra=smj0_chunk())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_fuzz_random_bytes_raise_only_audio_file_error(data: bytes):
    started = time.perf_counter()
    try:
        parse_wav_bytes(data)
    except AudioFileError:
        pass
    assert time.perf_counter() - started < 1.0


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(_valid_example())),
    st.lists(st.tuples(st.integers(0, len(_valid_example()) - 1), st.integers(0, 255)), max_size=8),
)
def test_fuzz_truncated_and_mutated_valid_files(cut: int, edits: list[tuple[int, int]]):
    data = bytearray(_valid_example()[:cut])
    for position, value in edits:
        if position < len(data):
            data[position] = value
    started = time.perf_counter()
    try:
        content = parse_wav_bytes(bytes(data))
    except AudioFileError:
        pass
    else:
        assert content.samples.ndim == 1 and np.all(np.isfinite(content.samples))
    assert time.perf_counter() - started < 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.binary(min_size=4, max_size=4), st.integers(0, 2**32 - 1)), max_size=6)
)
def test_fuzz_lying_chunk_headers(headers: list[tuple[bytes, int]]):
    body = fmt_chunk()
    for chunk_id, size in headers:
        body += chunk_id + struct.pack("<I", size) + b"\1\2\3\4"
    data = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    try:
        parse_wav_bytes(data)
    except AudioFileError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_smj0_payload(payload: bytes):
    for candidate in (payload, zlib.compress(payload)):
        try:
            decode_smj0(candidate)
        except AudioFileError:
            pass


def test_chicago_smj0_files_decode(shared_data: Path):
    folder = shared_data / "chicago-audio" / "incident-556267"
    if not folder.is_dir():
        pytest.skip(f"no Chicago clips at {folder}")
    clips = sorted(folder.glob("*.wav"))
    assert len(clips) == 4
    serials = set()
    for path in clips:
        audio = read_sensor_audio(path)
        serials.add(audio.serial)
        assert audio.serial.startswith("SCP-")
        assert audio.sample_rate == 12000
        assert audio.duration_s == pytest.approx(2.0)
        # 18 Sep 2022, Chicago (41.7 N, 87.6 W)
        assert 1663459200 <= audio.start_time < 1663545600
        assert 41.6 < audio.position["latitude"] < 41.8
        assert -87.7 < audio.position["longitude"] < -87.6
        assert audio.full_scale_db_spl == pytest.approx(93.09)
    assert len(serials) == 4


def test_truncated_chicago_recording_is_a_clear_error(shared_data: Path):
    path = shared_data / "chicago-audio" / "scepter-test"
    clips = sorted(path.glob("*.wav")) if path.is_dir() else []
    if not clips:
        pytest.skip("no scepter-test recording")
    # The released file ends 1,068 bytes into its declared data chunk (no smj0 left).
    with pytest.raises(AudioFileError, match="truncated"):
        read_sensor_audio(clips[0])


def test_live_fire_audio_reads(shared_data: Path):
    folder = shared_data / "pittsburgh-live-fire" / "FP1" / "test_001"
    wavs = sorted(folder.glob("*.audio.*.wav")) if folder.is_dir() else []
    if not wavs:
        pytest.skip(f"no live-fire audio at {folder}")
    for wav in wavs:
        audio = read_live_fire_audio(wav)
        assert audio.sample_rate == 12000
        assert audio.serial in wav.name
        assert audio.duration_s == pytest.approx(10.0)
        assert set(audio.position) == {"x", "y", "z"}
        assert audio.start_time == pytest.approx(1545180566.0)
