"""Waveform and spectrogram pictures of an incident clip, drawn on the server as PNG.

The pictures are drawn from the stored clip (never from anything a sensor still holds)
and shown inline on the review screen, so looking at a clip is not a playback: only
pressing play fetches the audio itself (and is audited, see ``audio_views``).

A PNG needs nothing but zlib: one IHDR, one IDAT of filtered scanlines (filter 0), IEND.
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from apps.acoustics.wavfiles import AudioFileError, parse_wav_bytes

WAVE_WIDTH = 720
WAVE_HEIGHT = 64
SPECTRO_HEIGHT = 72
WAVE_BACKGROUND = (250, 251, 252)
WAVE_COLOUR = (31, 78, 121)
WAVE_AXIS = (200, 206, 214)

# A perceptual dark-blue -> teal -> yellow ramp (viridis stops), interpolated to 256.
_RAMP_STOPS = np.array(
    [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ],
    dtype=np.float64,
)
_RAMP = np.stack(
    [np.interp(np.linspace(0, 4, 256), np.arange(5), _RAMP_STOPS[:, c]) for c in range(3)],
    axis=1,
).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (height, width, 3) uint8 array as a PNG."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("png_bytes needs an (h, w, 3) uint8 array")
    height, width, _ = rgb.shape
    raw = np.zeros((height, 1 + width * 3), dtype=np.uint8)  # filter byte 0 per row
    raw[:, 1:] = rgb.reshape(height, width * 3)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def waveform_png(samples: np.ndarray, *, width: int = WAVE_WIDTH, height: int = WAVE_HEIGHT):
    """Min/max envelope per pixel column, scaled to the clip's own peak."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = WAVE_BACKGROUND
    mid = height // 2
    image[mid, :] = WAVE_AXIS
    n = len(samples)
    if n == 0:
        return png_bytes(image)
    peak = float(np.max(np.abs(samples))) or 1.0
    edges = np.linspace(0, n, width + 1).astype(int)
    half = (height - 2) / 2
    for x in range(width):
        lo, hi = edges[x], max(edges[x + 1], edges[x] + 1)
        column = samples[lo:hi]
        top = int(round(mid - float(column.max()) / peak * half))
        bottom = int(round(mid - float(column.min()) / peak * half))
        top, bottom = max(0, min(top, mid)), min(height - 1, max(bottom, mid))
        image[top : bottom + 1, x] = WAVE_COLOUR
    return png_bytes(image)


def spectrogram_png(
    samples: np.ndarray,
    *,
    sample_rate: int,
    width: int = WAVE_WIDTH,
    height: int = SPECTRO_HEIGHT,
    dynamic_range_db: float = 70.0,
):
    """Short-time spectrum (Hann, 256 samples), 0 Hz at the bottom, Nyquist at the top."""
    n_fft = 256
    if len(samples) < n_fft:
        samples = np.pad(samples, (0, n_fft - len(samples)))
    starts = np.linspace(0, len(samples) - n_fft, width).astype(int)
    window = np.hanning(n_fft).astype(np.float32)
    frames = np.stack([samples[s : s + n_fft] for s in starts]) * window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (width, n_fft/2+1)
    level = 10.0 * np.log10(power + 1e-12)
    top = float(level.max())
    scaled = np.clip((level - (top - dynamic_range_db)) / dynamic_range_db, 0.0, 1.0)
    # Resample the frequency axis to the picture height, low frequencies at the bottom.
    bins = np.linspace(0, scaled.shape[1] - 1, height)
    rows = np.stack([np.interp(bins, np.arange(scaled.shape[1]), col) for col in scaled], axis=1)
    rows = rows[::-1]  # (height, width)
    image = _RAMP[(rows * 255).astype(np.uint8)]
    return png_bytes(np.ascontiguousarray(image))


@dataclass(frozen=True)
class ClipPictures:
    waveform: str  # data: URI
    spectrogram: str  # data: URI
    nyquist_hz: int
    error: str = ""


def clip_pictures(data: bytes) -> ClipPictures:
    """Both pictures of a stored clip; an unreadable file gives an error text instead."""
    try:
        content = parse_wav_bytes(data, where="clip")
    except AudioFileError as error:
        return ClipPictures(waveform="", spectrogram="", nyquist_hz=0, error=str(error))
    samples = content.samples.astype(np.float32)
    return ClipPictures(
        waveform=data_uri(waveform_png(samples)),
        spectrogram=data_uri(spectrogram_png(samples, sample_rate=content.sample_rate)),
        nyquist_hz=content.sample_rate // 2,
    )
