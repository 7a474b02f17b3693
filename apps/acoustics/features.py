"""Per-pulse features computed from a sensor's audio around one onset.

What a deployed sensor sends with each pulse (TN 098): integrated power, envelope shape
and a normalised power spectrum of the first 250 ms after onset; never the audio itself.
The audio before the onset is the sensor's estimate of the ambient noise.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import hilbert

from apps.acoustics.numbers import finite_float

P_REF_PA = 20e-6
ANALYSIS_S = 0.250
EARLY_S = 0.020  # SNR and "early energy" use the first 20 ms: the impulse itself
BAND_EDGES_HZ = (20.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 2400.0, 3600.0, 6000.0)
BAND_NAMES = tuple(f"band_{i}" for i in range(len(BAND_EDGES_HZ) - 1))

FEATURE_NAMES: tuple[str, ...] = (
    "peak_db_spl",
    "power_db_spl",
    "snr_db",
    "rise_time_ms",
    "decay_time_ms",
    "duration_ms",
    "crest_factor_db",
    "late_energy_ratio_db",
    "spectral_centroid_hz",
    "n_onsets",
    *BAND_NAMES,
)


def _db(ratio: float) -> float:
    return 10.0 * math.log10(max(ratio, 1e-20))


def _smooth(envelope: np.ndarray, *, samples: int) -> np.ndarray:
    if samples <= 1:
        return envelope
    # Moving average that divides by the samples actually present, so edges do not sag.
    cumulative = np.concatenate([[0.0], np.cumsum(envelope)])
    index = np.arange(len(envelope))
    low = np.maximum(index - samples // 2, 0)
    high = np.minimum(index - samples // 2 + samples, len(envelope))
    return (cumulative[high] - cumulative[low]) / (high - low)


def _crossing(envelope: np.ndarray, peak_index: int, level: float) -> float:
    """Sub-sample time (in samples) where the envelope last rises through level before peak."""
    below = np.nonzero(envelope[: peak_index + 1] < level)[0]
    if len(below) == 0:
        return 0.0
    i = int(below[-1])
    if i >= peak_index:
        return float(peak_index)
    low, high = float(envelope[i]), float(envelope[i + 1])
    return i + (level - low) / (high - low) if high > low else float(i)


def compute_features(
    *, waveform: np.ndarray, sample_rate: float, onset_index: int
) -> dict[str, float]:
    """Features of the pulse starting at onset_index; waveform in pascals.

    Samples before onset_index (at least 2 ms) are the ambient noise estimate; the
    analysis uses up to 250 ms after the onset (at least 10 ms are required).
    """
    wave = np.asarray(waveform, dtype=float)
    if wave.ndim != 1:
        raise ValueError(f"waveform must be one-dimensional, got shape {wave.shape}")
    if not np.all(np.isfinite(wave)):
        raise ValueError("waveform contains NaN or infinite samples")
    if not (
        isinstance(sample_rate, int | float) and math.isfinite(sample_rate) and sample_rate > 0
    ):
        raise ValueError(f"sample rate must be a positive number, got {sample_rate!r}")
    fs = float(sample_rate)
    if not isinstance(onset_index, int | np.integer) or not 0 <= onset_index < len(wave):
        raise ValueError(f"onset index {onset_index!r} is outside the waveform")
    if onset_index < int(0.002 * fs):
        raise ValueError("need at least 2 ms of audio before the onset to estimate noise")
    segment = wave[onset_index : onset_index + int(ANALYSIS_S * fs)]
    if len(segment) < int(0.010 * fs):
        raise ValueError("need at least 10 ms of audio after the onset")
    noise = wave[:onset_index]
    noise_ms = max(float(np.mean(noise**2)), (P_REF_PA * 1e-3) ** 2)

    n_early = int(EARLY_S * fs)
    early_ms = float(np.mean(segment[:n_early] ** 2))
    total_energy = float(np.sum(segment**2))
    early_energy = float(np.sum(segment[:n_early] ** 2))
    peak = float(np.max(np.abs(segment)))
    power_ms = float(np.mean(segment**2))

    fft_size = 1 << (len(segment) - 1).bit_length()
    envelope = np.abs(hilbert(segment, N=fft_size)[: len(segment)])
    slow = _smooth(envelope, samples=int(0.002 * fs))
    noise_env = float(np.sqrt(noise_ms))

    # Rise: from 10% to 90% of the way from the noise floor to the first 50 ms peak.
    # Rise time needs a little audio before the onset: the picked onset (and a sensor's
    # reported one) can be a sample or a millisecond late.
    lead = min(onset_index, int(0.005 * fs))
    context = wave[onset_index - lead : onset_index + int(0.050 * fs)]
    head = _smooth(
        np.abs(hilbert(context, N=1 << (len(context) - 1).bit_length()))[: len(context)],
        samples=int(0.0005 * fs),
    )
    i_peak = lead + int(np.argmax(head[lead:]))
    floor = min(noise_env, float(head[i_peak]))
    span = float(head[i_peak]) - floor
    rise_ms = (
        1000.0
        * (
            _crossing(head, i_peak, floor + 0.9 * span)
            - _crossing(head, i_peak, floor + 0.1 * span)
        )
        / fs
    )

    # Decay and duration on the slower envelope, against -20 dB re its peak (or the noise).
    j_peak = int(np.argmax(slow))
    threshold = max(0.1 * float(slow[j_peak]), 2.0 * noise_env)
    after = np.nonzero(slow[j_peak:] < threshold)[0]
    decay_ms = 1000.0 * (int(after[0]) if len(after) else len(slow) - j_peak) / fs
    duration_ms = 1000.0 * float(np.count_nonzero(slow >= threshold)) / fs

    # Separate impulses inside the window: envelope maxima within 10 dB of the largest.
    min_gap = int(0.015 * fs)
    loud = slow >= max(0.316 * float(slow[j_peak]), 2.0 * noise_env)
    n_onsets, last = 0, -min_gap
    rising = np.nonzero(loud[1:] & ~loud[:-1])[0] + 1
    starts = ([0] if loud[0] else []) + list(rising)
    for start in starts:
        if start - last >= min_gap:
            n_onsets += 1
        last = start

    # Normalised band spectrum with the ambient noise spectrum subtracted.
    spectrum = np.abs(np.fft.rfft(segment)) ** 2
    freqs = np.fft.rfftfreq(len(segment), 1.0 / fs)
    noise_spectrum = np.abs(np.fft.rfft(noise, n=len(segment))) ** 2 * (len(segment) / len(noise))
    bands = []
    for low, high in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:], strict=True):
        mask = (freqs >= low) & (freqs < high)
        bands.append(max(float(spectrum[mask].sum() - noise_spectrum[mask].sum()), 0.0))
    band_total = sum(bands)
    if band_total <= 0:
        bands = [1.0 / len(bands)] * len(bands)
    else:
        bands = [b / band_total for b in bands]
    edges = zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:], strict=True)
    centres = [math.sqrt(lo * hi) for lo, hi in edges]
    centroid = sum(c * b for c, b in zip(centres, bands, strict=True))

    features = {
        "peak_db_spl": 20.0 * math.log10(max(peak, 1e-12) / P_REF_PA),
        "power_db_spl": _db(power_ms / P_REF_PA**2),
        "snr_db": _db(early_ms / noise_ms),
        "rise_time_ms": rise_ms,
        "decay_time_ms": decay_ms,
        "duration_ms": duration_ms,
        "crest_factor_db": _db(peak**2 / max(power_ms, 1e-30)),
        "late_energy_ratio_db": _db((total_energy - early_energy) / max(early_energy, 1e-30)),
        "spectral_centroid_hz": centroid,
        "n_onsets": float(max(n_onsets, 1)),
    }
    features.update(dict(zip(BAND_NAMES, bands, strict=True)))
    return features


def validate_features(features: dict, *, where: str = "pulse") -> dict[str, float]:
    """Check a feature dict: every known name present and finite; unknown names rejected."""
    if not isinstance(features, dict):
        raise ValueError(f"{where}: features must be a dict, got {type(features).__name__}")
    unknown = sorted(set(features) - set(FEATURE_NAMES))
    if unknown:
        raise ValueError(f"{where}: unknown feature name(s) {unknown}")
    missing = [name for name in FEATURE_NAMES if name not in features]
    if missing:
        raise ValueError(f"{where}: missing feature(s) {missing}")
    clean = {}
    for name in FEATURE_NAMES:
        value = features[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: feature {name} must be a number, got {value!r}")
        number = finite_float(value)
        if number is None:
            raise ValueError(f"{where}: feature {name} is not finite ({value!r})")
        clean[name] = number
    return clean
