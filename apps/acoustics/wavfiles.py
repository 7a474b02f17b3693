"""Read sensor audio: 16-bit PCM WAV files with their time of first sample and position.

Two layouts carry the metadata a pulse detector needs:

- ShotSpotter sensor WAVs hold a RIFF chunk `smj0`: zlib-compressed JSON with
  `serialNumber`, `startTimeUTC` (time of the first sample), `duration` and
  `geolocation` {latitude, longitude, elevation}, plus weather and transducer details.
- Live-fire test audio (`test_nnn.audio.<serial>.wav`) has a companion `.json` with
  `serial_number`, `timestamp` (UTC of the first sample) and `location` {x, y, z}.

Parsing is strict and bounded: every chunk must fit inside the file, sizes are capped
and the zlib stream is inflated with an output limit, so a corrupt or hostile file
yields `AudioFileError` with a message, never another exception or a hang.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from apps.acoustics.io import PulseFileError, parse_utc
from apps.acoustics.numbers import finite_float

MAX_WAV_BYTES = 256 * 1024 * 1024  # about 3 hours of 12 kHz 16-bit mono
MAX_CHUNKS = 1024
MAX_SMJ0_BYTES = 256 * 1024  # compressed; real chunks are well under 1 KiB
MAX_SMJ0_JSON_BYTES = 1024 * 1024  # inflated
MAX_COMPANION_JSON_BYTES = 1024 * 1024
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384_000

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The GUID tail shared by all KSDATAFORMAT_SUBTYPE_* values; PCM's subtype starts 0x0001.
_EXTENSIBLE_PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")


class AudioFileError(ValueError):
    """Audio that cannot be read as sensor audio; the message says what and where."""


@dataclass(frozen=True)
class RiffChunk:
    """One chunk of a RIFF/WAVE file: its id, where its payload starts and its size."""

    chunk_id: str
    offset: int
    size: int


@dataclass(frozen=True)
class WavContent:
    """A decoded 16-bit PCM mono WAV: samples scaled to [-1, 1) and every chunk found."""

    samples: np.ndarray
    sample_rate: int
    chunks: tuple[RiffChunk, ...]
    smj0: dict | None


@dataclass(frozen=True)
class SensorAudio:
    """Audio from one sensor with the UTC time of its first sample.

    `position` is {"x", "y", "z"} in metres for live-fire data (an arbitrary local
    frame per firing position) or {"latitude", "longitude", "elevation"} for smj0 files.
    `full_scale_db_spl` is the sound level of a full-scale sample when the file states
    it (smj0 `transducers[0].fullScale`), else None.
    """

    source: str
    samples: np.ndarray
    sample_rate: int
    start_time: float
    serial: str
    position: dict[str, float]
    full_scale_db_spl: float | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def walk_riff_chunks(data: bytes, *, where: str = "WAV") -> tuple[RiffChunk, ...]:
    """List the chunks of a RIFF/WAVE byte string; raise AudioFileError if malformed.

    Every chunk header and payload must lie inside the data (a truncated file or a
    lying chunk size is an error). The RIFF size field may overstate the data only by
    the pad byte some writers leave out; anything else is reported as truncation.
    """
    if len(data) < 12:
        raise AudioFileError(f"{where}: only {len(data)} bytes, too short for a RIFF header")
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFileError(f"{where}: not a RIFF/WAVE file (header {data[:12]!r})")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    if end > len(data) + 1:
        raise AudioFileError(
            f"{where}: truncated: RIFF header declares {end} bytes, the file has {len(data)}"
        )
    end = min(end, len(data))
    chunks: list[RiffChunk] = []
    position = 12
    while position + 8 <= end:
        if len(chunks) >= MAX_CHUNKS:
            raise AudioFileError(f"{where}: more than {MAX_CHUNKS} RIFF chunks")
        raw_id = data[position : position + 4]
        (size,) = struct.unpack_from("<I", data, position + 4)
        try:
            chunk_id = raw_id.decode("ascii")
        except UnicodeDecodeError:
            chunk_id = ""
        if not chunk_id.isprintable() or len(chunk_id) != 4:
            raise AudioFileError(f"{where}: bad chunk id {raw_id!r} at byte {position}")
        payload = position + 8
        if payload + size > len(data):
            raise AudioFileError(
                f"{where}: truncated: chunk {chunk_id!r} at byte {position} declares "
                f"{size} bytes, only {len(data) - payload} remain"
            )
        chunks.append(RiffChunk(chunk_id=chunk_id, offset=payload, size=size))
        position = payload + size + (size & 1)
    if position < end and end - position not in (0, 1):
        raise AudioFileError(f"{where}: {end - position} stray bytes after the last chunk")
    return tuple(chunks)


def decode_smj0(payload: bytes, *, where: str = "smj0 chunk") -> dict:
    """Inflate and parse an smj0 chunk (zlib JSON object), with size limits."""
    if len(payload) > MAX_SMJ0_BYTES:
        raise AudioFileError(f"{where}: {len(payload)} bytes exceeds the {MAX_SMJ0_BYTES} limit")
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(payload, MAX_SMJ0_JSON_BYTES)
    except zlib.error as error:
        raise AudioFileError(f"{where}: not a zlib stream ({error})") from None
    if inflater.unconsumed_tail:
        raise AudioFileError(f"{where}: inflates to more than {MAX_SMJ0_JSON_BYTES} bytes")
    if not inflater.eof:
        raise AudioFileError(f"{where}: truncated zlib stream")
    try:
        record = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise AudioFileError(f"{where}: not valid UTF-8 JSON ({error})") from None
    if not isinstance(record, dict):
        raise AudioFileError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def _parse_fmt(payload: bytes, *, where: str) -> int:
    """Check a fmt chunk describes 16-bit PCM mono; return the sample rate."""
    if len(payload) < 16:
        raise AudioFileError(f"{where}: fmt chunk has {len(payload)} bytes, needs 16")
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", payload)
    if tag == _WAVE_FORMAT_EXTENSIBLE:
        if len(payload) < 40 or payload[24:40] != _EXTENSIBLE_PCM_GUID:
            raise AudioFileError(f"{where}: WAVE_FORMAT_EXTENSIBLE but not PCM")
    elif tag != _WAVE_FORMAT_PCM:
        raise AudioFileError(f"{where}: format tag {tag:#06x} is not PCM (1)")
    if bits != 16:
        raise AudioFileError(f"{where}: {bits}-bit samples; only 16-bit PCM is supported")
    if channels != 1:
        raise AudioFileError(f"{where}: {channels} channels; only mono is supported")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioFileError(f"{where}: implausible sample rate {rate} Hz")
    if block_align != 2 or byte_rate != 2 * rate:
        raise AudioFileError(
            f"{where}: inconsistent fmt chunk (block align {block_align}, byte rate {byte_rate})"
        )
    return rate


def parse_wav_bytes(data: bytes, *, where: str = "WAV") -> WavContent:
    """Decode a 16-bit PCM mono WAV held in memory; decode its smj0 chunk if present."""
    if len(data) > MAX_WAV_BYTES:
        raise AudioFileError(f"{where}: {len(data)} bytes exceeds the {MAX_WAV_BYTES} limit")
    chunks = walk_riff_chunks(data, where=where)
    by_id: dict[str, RiffChunk] = {}
    for chunk in chunks:
        if chunk.chunk_id in ("fmt ", "data", "smj0") and chunk.chunk_id in by_id:
            raise AudioFileError(f"{where}: more than one {chunk.chunk_id.strip()!r} chunk")
        by_id.setdefault(chunk.chunk_id, chunk)
    if "fmt " not in by_id:
        raise AudioFileError(f"{where}: no fmt chunk")
    if "data" not in by_id:
        raise AudioFileError(f"{where}: no data chunk")
    fmt, body = by_id["fmt "], by_id["data"]
    if fmt.offset > body.offset:
        raise AudioFileError(f"{where}: the fmt chunk comes after the data chunk")
    rate = _parse_fmt(data[fmt.offset : fmt.offset + fmt.size], where=where)
    if body.size % 2:
        raise AudioFileError(f"{where}: data chunk of {body.size} bytes is not whole samples")
    pcm = np.frombuffer(data, dtype="<i2", count=body.size // 2, offset=body.offset)
    samples = pcm.astype(np.float32) / np.float32(32768.0)
    smj0 = None
    if "smj0" in by_id:
        chunk = by_id["smj0"]
        smj0 = decode_smj0(data[chunk.offset : chunk.offset + chunk.size], where=f"{where}: smj0")
    return WavContent(samples=samples, sample_rate=rate, chunks=chunks, smj0=smj0)


def read_wav(path: str | Path) -> WavContent:
    """Read a 16-bit PCM mono WAV file (and its smj0 metadata if present)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_WAV_BYTES:
            raise AudioFileError(f"{path}: {size} bytes exceeds the {MAX_WAV_BYTES} limit")
        data = path.read_bytes()
    except OSError as error:
        raise AudioFileError(f"{path}: cannot read ({error.strerror or error})") from None
    return parse_wav_bytes(data, where=str(path))


def _utc(value, *, what: str, where: str) -> float:
    try:
        return parse_utc(value)
    except PulseFileError as error:
        raise AudioFileError(f"{where}: {what}: {error}") from None


def _number(value, *, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AudioFileError(f"{where}: {what} must be a number, got {value!r}")
    number = finite_float(value)
    if number is None:
        raise AudioFileError(f"{where}: {what} is not finite")
    return number


def _serial(value, *, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise AudioFileError(f"{where}: {what} must be a non-empty string, got {value!r}")
    return value


def sensor_audio_from_smj0(content: WavContent, *, source: str) -> SensorAudio:
    """Build SensorAudio from a decoded WAV whose smj0 chunk gives time and place."""
    meta = content.smj0
    where = f"{source}: smj0"
    if meta is None:
        raise AudioFileError(f"{source}: no smj0 chunk")
    for name in ("serialNumber", "startTimeUTC", "geolocation"):
        if name not in meta:
            raise AudioFileError(f"{where}: missing field {name}")
    geo = meta["geolocation"]
    if not isinstance(geo, dict):
        raise AudioFileError(f"{where}: geolocation must be an object")
    position = {}
    for name in ("latitude", "longitude", "elevation"):
        if name not in geo:
            raise AudioFileError(f"{where}: geolocation is missing {name}")
        position[name] = _number(geo[name], what=f"geolocation.{name}", where=where)
    if not (-90 <= position["latitude"] <= 90 and -180 <= position["longitude"] <= 180):
        raise AudioFileError(f"{where}: latitude/longitude out of range")
    full_scale = None
    transducers = meta.get("transducers")
    if isinstance(transducers, list) and transducers and isinstance(transducers[0], dict):
        value = finite_float(transducers[0].get("fullScale"))
        if value is not None and 40 <= value <= 200:
            full_scale = value
    return SensorAudio(
        source=source,
        samples=content.samples,
        sample_rate=content.sample_rate,
        start_time=_utc(meta["startTimeUTC"], what="startTimeUTC", where=where),
        serial=_serial(meta["serialNumber"], what="serialNumber", where=where),
        position=position,
        full_scale_db_spl=full_scale,
        metadata=meta,
    )


def companion_json_path(wav_path: str | Path) -> Path:
    """`test_001.audio.X.wav` -> `test_001.audio.X.json`."""
    return Path(wav_path).with_suffix(".json")


def read_companion_json(path: str | Path) -> dict:
    """Read a live-fire audio companion `.json` (serial_number, timestamp, location)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_COMPANION_JSON_BYTES:
            raise AudioFileError(f"{path}: larger than {MAX_COMPANION_JSON_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AudioFileError(f"{path}: companion .json (time of first sample) not found") from None
    except OSError as error:
        raise AudioFileError(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise AudioFileError(f"{path}: not UTF-8 text") from None
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise AudioFileError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise AudioFileError(f"{path}: expected a JSON object")
    return record


def read_live_fire_audio(wav_path: str | Path) -> SensorAudio:
    """A live-fire `*.audio.<serial>.wav` with its companion `.json` -> SensorAudio."""
    wav_path = Path(wav_path)
    meta_path = companion_json_path(wav_path)
    meta = read_companion_json(meta_path)
    where = str(meta_path)
    for name in ("serial_number", "timestamp", "location"):
        if name not in meta:
            raise AudioFileError(f"{where}: missing field {name}")
    location = meta["location"]
    if not isinstance(location, dict):
        raise AudioFileError(f"{where}: location must be an object with x, y, z")
    position = {}
    for axis in ("x", "y", "z"):
        if axis not in location:
            raise AudioFileError(f"{where}: location is missing {axis}")
        position[axis] = _number(location[axis], what=f"location.{axis}", where=where)
    start_time = _utc(meta["timestamp"], what="timestamp", where=where)
    serial = _serial(meta["serial_number"], what="serial_number", where=where)
    content = read_wav(wav_path)
    return SensorAudio(
        source=str(wav_path),
        samples=content.samples,
        sample_rate=content.sample_rate,
        start_time=start_time,
        serial=serial,
        position=position,
        metadata=meta,
    )


def read_sensor_audio(path: str | Path) -> SensorAudio:
    """Read either layout: an smj0 WAV, or a WAV with a companion `.json`."""
    path = Path(path)
    if companion_json_path(path).is_file() and path.suffix.lower() == ".wav":
        return read_live_fire_audio(path)
    content = read_wav(path)
    if content.smj0 is None:
        raise AudioFileError(
            f"{path}: no time of first sample: neither an smj0 chunk nor a companion "
            f"{companion_json_path(path).name}"
        )
    return sensor_audio_from_smj0(content, source=str(path))
