"""Audio inputs: WAV files (a list or a watched directory) and, optionally, a sound device.

Each input yields ``Chunk``s: int16 samples with the UTC time of their first sample.
The time comes from the file (ShotSpotter ``smj0`` chunk or live-fire companion
``.json``) or, with ``timestamps = "now"``, from the agent's clock when it reads the
file (as fast as possible: the file is taken to have just ended; in real time: to start
now). Inputs only feed the agent's ring buffer and detector: none of them sends audio.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apps.acoustics.wavfiles import AudioFileError, read_sensor_audio, read_wav

logger = logging.getLogger("sensor_agent")


@dataclass(frozen=True)
class Chunk:
    samples: np.ndarray  # int16 mono
    sample_rate: int
    start: float  # epoch seconds of the first sample
    full_scale_db_spl: float | None = None
    source: str = ""


def _as_int16(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.dtype == np.int16:
        return x
    return np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def read_file(path: Path, *, timestamps: str, realtime: bool, clock=time.time):
    """(int16 samples, rate, start epoch, full scale dB SPL or None) of one WAV file."""
    if timestamps == "file":
        audio = read_sensor_audio(path)
        return (
            _as_int16(audio.samples),
            audio.sample_rate,
            audio.start_time,
            (audio.full_scale_db_spl),
        )
    content = read_wav(path)
    samples = _as_int16(content.samples)
    duration = len(samples) / content.sample_rate
    start = clock() if realtime else clock() - duration
    return samples, content.sample_rate, start, None


def file_chunks(
    path: Path,
    *,
    timestamps: str,
    realtime: bool,
    chunk_s: float,
    stop: threading.Event | None = None,
    clock=time.time,
    sleep=time.sleep,
) -> Generator[Chunk, None, bool]:
    """The file's audio in chunks; returns True when all of it was yielded (not stopped)."""
    samples, rate, start, full_scale = read_file(
        path, timestamps=timestamps, realtime=realtime, clock=clock
    )
    step = max(int(round(chunk_s * rate)), 1)
    began = clock()
    for first in range(0, len(samples), step):
        if stop is not None and stop.is_set():
            return False
        piece = samples[first : first + step]
        if realtime:
            # Release each chunk once its last sample would have been recorded.
            due = began + (first + len(piece)) / rate
            wait = due - clock()
            if wait > 0:
                if stop is not None:
                    if stop.wait(wait):
                        return False
                else:
                    sleep(wait)
        yield Chunk(piece, rate, start + first / rate, full_scale, str(path))
    return True


def wav_files(
    paths, *, timestamps: str, realtime: bool, chunk_s: float, stop=None
) -> Iterator[Chunk]:
    for path in paths:
        try:
            yield from file_chunks(
                Path(path), timestamps=timestamps, realtime=realtime, chunk_s=chunk_s, stop=stop
            )
        except AudioFileError as error:
            logger.error("skipping %s: %s", path, error)
        if stop is not None and stop.is_set():
            return


def wav_directory(
    directory: Path,
    *,
    state_file: Path,
    timestamps: str,
    realtime: bool,
    chunk_s: float,
    poll_interval_s: float,
    stop: threading.Event,
    settle_s: float = 2.0,
) -> Iterator[Chunk]:
    """New ``*.wav`` files in ``directory``, in name order, each once (until ``stop``)."""
    done = set(state_file.read_text().split("\n")) if state_file.exists() else set()
    while not stop.is_set():
        fresh = []
        if directory.is_dir():
            for path in sorted(directory.glob("*.wav")):
                if path.name in done:
                    continue
                try:
                    if time.time() - path.stat().st_mtime < settle_s:
                        continue  # possibly still being written
                except OSError:
                    continue
                fresh.append(path)
        for path in fresh:
            try:
                complete = yield from file_chunks(
                    path, timestamps=timestamps, realtime=realtime, chunk_s=chunk_s, stop=stop
                )
            except AudioFileError as error:
                logger.error("skipping %s: %s", path, error)
                complete = True  # unreadable: do not try it again
            if not complete:
                return  # stopped part-way: read the file again from the start next time
            done.add(path.name)
            with state_file.open("a") as handle:
                handle.write(path.name + "\n")
        stop.wait(poll_interval_s)


def sound_device(
    *, device, sample_rate: int, chunk_s: float, stop: threading.Event
) -> Iterator[Chunk]:
    """Live audio from a sound card (needs the optional ``sounddevice`` package)."""
    try:
        import sounddevice  # noqa: PLC0415 - optional dependency
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "input.type = 'sound-device' needs the optional 'sounddevice' package "
            "(pip install sounddevice) and PortAudio"
        ) from error
    import queue

    blocks: queue.Queue = queue.Queue(maxsize=64)
    blocksize = max(int(round(chunk_s * sample_rate)), 1)

    def callback(indata, frames, _time_info, status):  # pragma: no cover - needs hardware
        if status:
            logger.warning("sound device: %s", status)
        start = time.time() - frames / sample_rate
        try:
            blocks.put_nowait((indata[:, 0].copy(), start))
        except queue.Full:
            logger.warning("sound device: dropping a block (the detector is behind)")

    with sounddevice.InputStream(  # pragma: no cover - needs hardware
        device=device,
        channels=1,
        samplerate=sample_rate,
        dtype="int16",
        blocksize=blocksize,
        callback=callback,
    ):
        while not stop.is_set():
            try:
                samples, start = blocks.get(timeout=0.5)
            except queue.Empty:
                continue
            yield Chunk(samples, sample_rate, start, None, f"device {device}")
