"""The sensor's audio ring buffer on disk: 16-bit mono WAV segments of at most one minute.

Each segment's file name holds the UTC time of its first sample (integer microseconds
since the epoch) and its sample rate: ``seg-<start_us>-<rate>.wav``. Consecutive audio
is appended to the current segment until the minute is full.

Privacy (see docs/sensor-agent.md):
- ``purge()`` deletes every segment that STARTS before now - retention; the agent calls
  it at start-up and on a timer, as of the next purge (now + the purge interval), so no
  sample stays on disk longer than the retention (at most 72 hours).
- The retention cannot be configured above 72 hours (``MAX_RETENTION_HOURS``).
- ``cut(start, end)`` returns only samples whose times lie inside [start, end) and
  inside the retention; audio leaves this module in no other way.
"""

from __future__ import annotations

import math
import os
import re
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apps.sensor_agent import MAX_RETENTION_HOURS

SEGMENT_S = 60.0
_NAME = re.compile(r"^seg-(\d{1,20})-(\d{3,6})\.wav$")
_HEADER_BYTES = 44
END_MARGIN = 0.05  # samples; more than the rounding of times to whole microseconds


class BufferError(ValueError):
    """Audio that cannot go into the buffer (bad rate, bad time, bad samples)."""


@dataclass(frozen=True)
class Segment:
    path: Path
    start_us: int
    sample_rate: int
    n_samples: int

    @property
    def start(self) -> float:
        return self.start_us / 1e6

    @property
    def end(self) -> float:
        """Time just after the last sample."""
        return self.start + self.n_samples / self.sample_rate


@dataclass(frozen=True)
class Clip:
    """Audio cut from the buffer: int16 samples and the UTC time of the first one."""

    start: float
    sample_rate: int
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def end(self) -> float:
        return self.start + self.duration_s


def wav_header(*, n_samples: int, sample_rate: int) -> bytes:
    data_bytes = 2 * n_samples
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", 36 + data_bytes),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16),
            b"data",
            struct.pack("<I", data_bytes),
        )
    )


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit PCM mono WAV of int16 samples."""
    pcm = np.asarray(samples, dtype="<i2")
    return wav_header(n_samples=len(pcm), sample_rate=sample_rate) + pcm.tobytes()


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Fractions of full scale (float) or int16 -> int16, clipped."""
    x = np.asarray(samples)
    if x.dtype == np.int16:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise BufferError(f"samples must be int16 or float, got {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise BufferError("samples contain NaN or infinite values")
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


class RingBuffer:
    def __init__(self, directory: str | Path, *, retention_hours: float = MAX_RETENTION_HOURS):
        if (
            isinstance(retention_hours, bool)
            or not isinstance(retention_hours, int | float)
            or not math.isfinite(retention_hours)
            or not 0 < retention_hours <= MAX_RETENTION_HOURS
        ):
            raise BufferError(
                f"retention of {retention_hours!r} h refused: it must be positive and at most "
                f"{MAX_RETENTION_HOURS:g} hours"
            )
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.retention_s = float(retention_hours) * 3600.0
        self._lock = threading.Lock()

    # --- reading the directory -------------------------------------------------------------

    def segments(self) -> list[Segment]:
        found = []
        for entry in os.scandir(self.directory):
            match = _NAME.match(entry.name)
            if not match or not entry.is_file():
                continue
            size = entry.stat().st_size
            found.append(
                Segment(
                    path=Path(entry.path),
                    start_us=int(match.group(1)),
                    sample_rate=int(match.group(2)),
                    n_samples=max(size - _HEADER_BYTES, 0) // 2,
                )
            )
        found.sort(key=lambda s: s.start_us)
        return found

    def status(self) -> dict:
        """Oldest sample time (epoch s or None), newest sample end and bytes on disk."""
        segments = self.segments()
        return {
            "oldest": segments[0].start if segments else None,
            "newest": max(s.end for s in segments) if segments else None,
            "bytes": sum(s.path.stat().st_size for s in segments if s.path.exists()),
            "segments": len(segments),
        }

    # --- writing ------------------------------------------------------------------------------

    def write(self, samples: np.ndarray, *, sample_rate: int, start: float) -> None:
        """Store audio whose first sample is at ``start`` (epoch seconds)."""
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int):
            raise BufferError(f"sample rate must be an integer, got {sample_rate!r}")
        if not 1000 <= sample_rate <= 384_000:
            raise BufferError(f"sample rate {sample_rate} Hz is out of range")
        if not isinstance(start, int | float) or not math.isfinite(start) or start < 0:
            raise BufferError(f"start must be epoch seconds, got {start!r}")
        pcm = to_int16(samples)
        if pcm.ndim != 1:
            raise BufferError(f"samples must be mono (one-dimensional), got shape {pcm.shape}")
        with self._lock:
            position = 0
            while position < len(pcm):
                t = start + position / sample_rate
                current = self._appendable(t, sample_rate)
                if current is None:
                    room = int(round(SEGMENT_S * sample_rate))
                    take = pcm[position : position + room]
                    start_us = int(round(t * 1e6))
                    path = self.directory / f"seg-{start_us}-{sample_rate}.wav"
                    tmp = path.with_suffix(".tmp")
                    tmp.write_bytes(wav_bytes(take, sample_rate))
                    os.replace(tmp, path)
                else:
                    room = int(round(SEGMENT_S * sample_rate)) - current.n_samples
                    take = pcm[position : position + room]
                    self._append(current, take)
                position += len(take)

    def _appendable(self, t: float, sample_rate: int) -> Segment | None:
        segments = self.segments()
        if not segments:
            return None
        last = segments[-1]
        full = last.n_samples >= int(round(SEGMENT_S * sample_rate))
        contiguous = abs(last.end - t) < 0.5 / sample_rate
        return last if (last.sample_rate == sample_rate and contiguous and not full) else None

    @staticmethod
    def _append(segment: Segment, pcm: np.ndarray) -> None:
        n_total = segment.n_samples + len(pcm)
        with open(segment.path, "r+b") as handle:
            handle.seek(_HEADER_BYTES + 2 * segment.n_samples)
            handle.write(pcm.astype("<i2").tobytes())
            handle.seek(0)
            handle.write(wav_header(n_samples=n_total, sample_rate=segment.sample_rate))

    # --- privacy: purge and cut -------------------------------------------------------------

    def oldest_allowed(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.retention_s

    def purge(self, now: float | None = None) -> int:
        """Delete every segment that starts before now - retention; returns how many."""
        limit = self.oldest_allowed(now)
        removed = 0
        with self._lock:
            for segment in self.segments():
                if segment.start < limit:
                    segment.path.unlink(missing_ok=True)
                    removed += 1
            for stray in self.directory.glob("*.tmp"):
                stray.unlink(missing_ok=True)
        return removed

    def cut(self, start: float, end: float, *, now: float | None = None) -> Clip | None:
        """The buffered audio inside [start, end), or None if none of it is buffered.

        The clip starts at the first buffered sample at or after ``start`` and ends with
        the last one before ``end``; audio older than the retention is never returned.
        Gaps between segments inside the window are filled with zeros (exact zeros mean
        "no audio" to the detector), so the clip's time axis stays exact.
        """
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            return None
        start = max(start, self.oldest_allowed(now))
        if end <= start:
            return None
        with self._lock:
            segments = [s for s in self.segments() if s.end > start and s.start < end]
            if not segments:
                return None
            rate = segments[0].sample_rate
            segments = [s for s in segments if s.sample_rate == rate]
            pieces: list[tuple[float, np.ndarray]] = []
            for segment in segments:
                # Sample i is at segment.start + i / rate. Keep start <= t < end; at the end
                # a sample closer than END_MARGIN samples to ``end`` is left out, so the
                # microsecond rounding of times can never let one past the window.
                first = max(0, math.ceil((start - segment.start) * rate - 1e-6))
                stop = min(segment.n_samples, math.ceil((end - segment.start) * rate - END_MARGIN))
                if stop <= first:
                    continue
                data = np.fromfile(
                    segment.path,
                    dtype="<i2",
                    count=stop - first,
                    offset=_HEADER_BYTES + 2 * first,
                )
                pieces.append((segment.start + first / rate, data))
        if not pieces:
            return None
        clip_start = pieces[0][0]
        last_start, last_data = pieces[-1]
        total = int(round((last_start - clip_start) * rate)) + len(last_data)
        out = np.zeros(total, dtype=np.int16)
        for piece_start, data in pieces:
            offset = int(round((piece_start - clip_start) * rate))
            out[offset : offset + len(data)] = data[: max(total - offset, 0)]
        return Clip(start=clip_start, sample_rate=rate, samples=out)
