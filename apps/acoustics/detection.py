"""Pulse detection on sensor audio with the TN 098 step kernel on the Hilbert envelope.

Method (TN 098 section II.B, with the choices made here):

1. Remove the mean and high-pass the audio (2nd-order Butterworth, causal, 250 Hz) so
   wind and traffic rumble do not dominate the envelope; causal filtering keeps energy
   from appearing before the true onset.
2. Envelope env = |f + iH(f)| (Hilbert transform).
3. Step kernel with tau samples: x(t) = sum_{j=0}^{tau-1} env(t+j)(1 - j/tau)
   - 1/2 sum_{j=1}^{tau} env(t-j). Here it is evaluated as F(t) - B(t): F the same
   weighted sum divided by its weights, B the mean envelope over the tau samples
   before t. x(t) and F - B differ only by the constant (tau + 1) / 2 while the whole
   window holds audio; near gaps B averages only the samples present.
4. The detection score is (F - B) divided by the noise floor: the running 25th
   percentile of the envelope over 4 s of audio. Arrival candidates are local maxima
   of the score over +-5 ms that exceed the threshold. A strong pulse drives the score
   negative for tau afterwards, so its own echoes and ringing are not reported; shots
   60 ms apart are.
5. The onset is refined as ShotSpotter defines arrival time: the zero crossing at the
   start of the pulse. From the kernel maximum, the first sample where the envelope
   reaches 30% of the way from the pre-pulse level to the pulse peak marks the rise;
   the last zero crossing of the filtered signal at most 2 ms before it (linearly
   interpolated) is the arrival time.
6. Power is the peak sound level within 10 ms of the onset; SNR is the peak of the
   filtered signal in those 10 ms over the peak of the filtered pre-pulse noise (tau
   before the onset, ending 1 ms before it) -- "ratio of peak value of gunshot pulse
   to pre-pulse noise" as ShotSpotter's allpulses files describe it. Candidates with
   an SNR under MIN_SNR_DB (3 dB) are dropped: a rising tone, a ramp or a noise
   wiggle moves the kernel but does not stand out of the audio just before it.

The defaults (250 Hz, threshold 0.8 noise floors, 4 s floor window, +-5 ms, SNR 3 dB)
were chosen on the Pittsburgh live-fire audio; `apps/acoustics/bench/detection.py`
measures recall, timing and the number of pulses reported per file.

Audio files released by ShotSpotter replace audio outside the retained spans by exact
zeros; runs of exact zeros of 5 ms or more are treated as "no audio" (never as
silence), so the edges of such gaps are not mistaken for pulses.

Calibration: samples are fractions of full scale. Sound pressure uses a full-scale level
of `DEFAULT_FULL_SCALE_DB_SPL` unless the caller passes the sensor's own (ShotSpotter
smj0 files state it as `transducers[0].fullScale`, 93.09 dB in the Chicago clips). The
default was fitted to the Pittsburgh data: the median difference between ShotSpotter's
reported `power_dB_SPL` and the peak level in dB re full scale of the same unclipped
pulses (see `apps/acoustics/bench/detection.py`, which reports the residual).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.fft import next_fast_len
from scipy.ndimage import maximum_filter1d, percentile_filter
from scipy.signal import butter, fftconvolve, hilbert, sosfilt

from apps.acoustics import features as pulse_features

DEFAULT_FULL_SCALE_DB_SPL = 93.1  # dB SPL of a full-scale sample (fitted, see above)
DEFAULT_THRESHOLD = 0.8  # step-kernel score, in noise floors
DEFAULT_HIGHPASS_HZ = 250.0
NOISE_WINDOW_S = 4.0  # the noise floor is a running percentile over this much audio
NOISE_PERCENTILE = 25.0
MIN_SNR_DB = 3.0  # an impulse stands out of the noise just before it
P_REF_PA = 20e-6
FEATURE_PRE_S = 0.050  # audio before the onset given to the feature extractor (noise)
FEATURE_POST_S = 0.250  # TN 098: the sensor analyses the first 250 ms after onset
PEAK_WINDOW_S = 0.010  # power and SNR: the peak within 10 ms of the onset
MIN_AUDIO_AFTER_S = 0.010  # features need at least 10 ms after the onset
BLOCK_S = 60.0  # long inputs are processed in blocks this long
BLOCK_OVERLAP_S = 1.0  # ... extended by this much audio on each side
ZERO_CROSSING_BACK_S = 0.002  # how far before the rise the start-of-pulse crossing may lie


@dataclass(frozen=True)
class DetectedPulse:
    """One detected impulse: arrival time (UTC epoch seconds) and summary data."""

    arrival_time: float
    onset_sample: float  # fractional sample index of the arrival in the input
    power_db_spl: float  # peak sound level within 10 ms of the onset
    signal_to_noise_db: float  # filtered peak vs the peak of the pre-pulse noise
    score: float  # step-kernel output over the noise floor
    features: dict[str, float] = field(default_factory=dict)


def audio_present_mask(samples: np.ndarray, *, min_gap: int) -> np.ndarray:
    """True where there is audio: False inside runs of exact zeros of min_gap or more."""
    zero = samples == 0
    present = np.ones(len(samples), dtype=bool)
    if not zero.any():
        return present
    edges = np.diff(np.concatenate(([0], zero.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    for start, end in zip(starts, ends, strict=True):
        if end - start >= min_gap:
            present[start:end] = False
    return present


def step_kernel_response(
    envelope: np.ndarray, present: np.ndarray, *, tau: int
) -> tuple[np.ndarray, np.ndarray]:
    """(F - B, B) for every sample; NaN where fewer than tau/4 samples precede with audio."""
    weights = 1.0 - np.arange(tau) / tau
    # F(t) = sum_j env(t+j) w(j) / sum w: correlation, as a convolution with w reversed.
    front = fftconvolve(envelope, weights[::-1], mode="full")[tau - 1 : tau - 1 + len(envelope)]
    front /= weights.sum()
    total = np.concatenate(([0.0], np.cumsum(envelope)))
    count = np.concatenate(([0], np.cumsum(present)))
    index = np.arange(len(envelope))
    low = np.maximum(index - tau, 0)
    back_sum = total[index] - total[low]
    back_count = count[index] - count[low]
    enough = back_count >= max(tau // 4, 1)
    back = np.where(enough, back_sum / np.maximum(back_count, 1), np.nan)
    return front - back, back


def _local_maxima(score: np.ndarray, *, half_window: int, threshold: float) -> np.ndarray:
    filled = np.where(np.isnan(score), -np.inf, score)
    largest = maximum_filter1d(filled, size=2 * half_window + 1, mode="nearest")
    candidates = np.flatnonzero((filled == largest) & (filled > threshold))
    # Plateaus yield several equal maxima: keep the first of each run.
    if len(candidates) > 1:
        keep = np.concatenate(([True], np.diff(candidates) > half_window))
        candidates = candidates[keep]
    return candidates


def _refine_onset(
    filtered: np.ndarray, envelope: np.ndarray, back: float, peak_index: int, *, fs: float
) -> float:
    """Zero crossing at the start of the pulse whose kernel maximum is at peak_index."""
    n = len(envelope)
    lead = int(round(0.002 * fs))
    search_end = min(n, peak_index + int(round(0.005 * fs)) + 1)
    search_start = max(0, peak_index - lead)
    window = envelope[search_start:search_end]
    if len(window) == 0:
        return float(peak_index)
    top = float(window.max())
    floor = back if math.isfinite(back) else 0.0
    level = floor + 0.3 * (top - floor)
    rise = search_start + int(np.argmax(window >= level))
    for j in range(rise, max(rise - int(round(ZERO_CROSSING_BACK_S * fs)), 1) - 1, -1):
        a, b = float(filtered[j - 1]), float(filtered[j])
        if a == 0.0:
            return float(j - 1)
        if (a < 0.0) != (b < 0.0) or b == 0.0:
            return (j - 1) + a / (a - b) if a != b else float(j)
    return float(rise)


def _noise_floor(envelope: np.ndarray, present: np.ndarray, *, fs: float) -> np.ndarray:
    """Running NOISE_PERCENTILE of the envelope over NOISE_WINDOW_S of audio, per sample.

    Sampled every 5 ms and computed over the audio present only (gaps are skipped, so
    the window spans NOISE_WINDOW_S of real audio). A low percentile over a few seconds
    follows changing ambient noise (wind, traffic) yet stays below the level of a
    2 s burst of automatic fire.
    """
    stride = max(int(round(0.005 * fs)), 1)
    index = np.arange(0, len(envelope), stride)
    index = index[present[index]]
    if len(index) == 0:
        return np.full(len(envelope), 1.0 / 32768.0)
    size = max(int(round(NOISE_WINDOW_S * fs / stride)), 3)
    floor = percentile_filter(envelope[index], NOISE_PERCENTILE, size=size, mode="nearest")
    per_sample = np.interp(np.arange(len(envelope)), index, floor)
    return np.maximum(per_sample, 1.0 / 32768.0)


def _db(value: float) -> float:
    return 20.0 * math.log10(max(value, 1e-12))


def detect_pulses(
    samples: np.ndarray,
    sample_rate: float,
    start_time: float,
    *,
    tau_s: float = 0.05,
    threshold: float = DEFAULT_THRESHOLD,
    highpass_hz: float | None = DEFAULT_HIGHPASS_HZ,
    peak_half_window_s: float = 0.005,
    min_gap_s: float = 0.005,
    full_scale_db_spl: float = DEFAULT_FULL_SCALE_DB_SPL,
    with_features: bool = True,
) -> list[DetectedPulse]:
    """Detect impulses in mono audio that starts at start_time (UTC epoch seconds).

    Float samples are fractions of full scale; integer samples (raw PCM) are scaled by
    their type's full scale. Returns pulses in time order. Pulses whose onset lies
    within 10 ms of the end (or 2 ms of the start) of the audio are not reported: their
    features cannot be computed. Long inputs are processed in blocks of BLOCK_S seconds
    overlapping by BLOCK_OVERLAP_S, each with its own noise floor, so memory stays
    bounded.
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"samples must be one-dimensional, got shape {x.shape}")
    if not (isinstance(sample_rate, int | float) and math.isfinite(sample_rate)):
        raise ValueError(f"sample rate must be a finite number, got {sample_rate!r}")
    if sample_rate < 1000:
        raise ValueError(f"sample rate {sample_rate} Hz is too low for pulse detection")
    if not (isinstance(start_time, int | float) and math.isfinite(start_time)):
        raise ValueError(f"start time must be finite epoch seconds, got {start_time!r}")
    if not (math.isfinite(tau_s) and 0.001 <= tau_s <= 1.0):
        raise ValueError(f"tau must be between 1 ms and 1 s, got {tau_s!r}")
    if not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a positive number, got {threshold!r}")
    if highpass_hz is not None and not (0 < highpass_hz < sample_rate / 2):
        raise ValueError(f"high-pass corner {highpass_hz!r} Hz is not below Nyquist")
    if not (math.isfinite(full_scale_db_spl) and 0 < full_scale_db_spl < 250):
        raise ValueError(f"full scale {full_scale_db_spl!r} dB SPL is not plausible")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float64) / float(2 ** (8 * x.dtype.itemsize - 1))
    elif not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"samples must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or infinite values")
    fs = float(sample_rate)
    settings = {
        "tau": int(round(tau_s * fs)),
        "threshold": threshold,
        "highpass_hz": highpass_hz,
        "half_window": max(int(round(peak_half_window_s * fs)), 1),
        "min_gap": max(int(round(min_gap_s * fs)), 2),
        "full_scale_db_spl": full_scale_db_spl,
        "with_features": with_features,
    }
    block = int(BLOCK_S * fs)
    overlap = int(BLOCK_OVERLAP_S * fs)
    if len(x) <= block + 2 * overlap:
        return _detect_in_block(x, fs=fs, start_time=start_time, offset=0, **settings)
    pulses: list[DetectedPulse] = []
    for begin in range(0, len(x), block):
        low, high = max(begin - overlap, 0), min(begin + block + overlap, len(x))
        found = _detect_in_block(x[low:high], fs=fs, start_time=start_time, offset=low, **settings)
        pulses.extend(p for p in found if begin <= p.onset_sample < begin + block)
    return pulses


def _detect_in_block(
    x: np.ndarray,
    *,
    fs: float,
    start_time: float,
    offset: int,
    tau: int,
    threshold: float,
    highpass_hz: float | None,
    half_window: int,
    min_gap: int,
    full_scale_db_spl: float,
    with_features: bool,
) -> list[DetectedPulse]:
    """Detection on one block; onset_sample and arrival_time count from the whole input."""
    if len(x) < 2 * tau:
        return []
    present = audio_present_mask(x, min_gap=min_gap)
    if not present.any():
        return []
    x = np.where(present, x - float(np.mean(x[present])), 0.0)
    if highpass_hz:
        sos = butter(2, highpass_hz, btype="highpass", fs=fs, output="sos")
        filtered = sosfilt(sos, x)
    else:
        filtered = x
    envelope = np.abs(hilbert(filtered, N=next_fast_len(len(filtered)))[: len(filtered)])
    envelope *= present
    step, back = step_kernel_response(envelope, present, tau=tau)
    noise_floor = _noise_floor(envelope, present, fs=fs)
    score = step / noise_floor
    peaks = _local_maxima(score, half_window=half_window, threshold=threshold)

    full_scale_pa = P_REF_PA * 10.0 ** (full_scale_db_spl / 20.0)
    n_peak = max(int(round(PEAK_WINDOW_S * fs)), 1)
    n_pre = int(round(FEATURE_PRE_S * fs))
    n_post = int(round(FEATURE_POST_S * fs))
    pulses: list[DetectedPulse] = []
    for k in peaks:
        onset = _refine_onset(filtered, envelope, float(back[k]), int(k), fs=fs)
        first = int(math.ceil(onset))
        if first < int(0.002 * fs) or len(x) - first < int(MIN_AUDIO_AFTER_S * fs):
            continue
        peak = float(np.max(np.abs(x[first : first + n_peak])))
        power = _db(peak) + full_scale_db_spl
        pre_slice = slice(max(first - tau, 0), max(first - int(0.001 * fs), 0))
        pre = filtered[pre_slice][present[pre_slice]]
        noise_peak = float(np.max(np.abs(pre))) if len(pre) else 0.0
        noise_peak = max(noise_peak, 1.0 / 32768.0)
        signal_peak = float(np.max(np.abs(filtered[first : first + n_peak])))
        snr = _db(signal_peak / noise_peak)
        if snr < MIN_SNR_DB:
            continue
        feats: dict[str, float] = {}
        if with_features:
            begin = max(first - n_pre, 0)
            segment = x[begin : first + n_post] * full_scale_pa
            feats = pulse_features.compute_features(
                waveform=segment, sample_rate=fs, onset_index=first - begin
            )
        pulses.append(
            DetectedPulse(
                arrival_time=start_time + (offset + onset) / fs,
                onset_sample=offset + onset,
                power_db_spl=power,
                signal_to_noise_db=snr,
                score=float(score[k]),
                features=feats,
            )
        )
    return pulses


def detect_in_audio(audio, **options) -> list[DetectedPulse]:
    """detect_pulses on a `wavfiles.SensorAudio`, calibrated by its own full scale if stated.

    Keyword options are those of detect_pulses; an explicit full_scale_db_spl wins.
    """
    if audio.full_scale_db_spl is not None:
        options.setdefault("full_scale_db_spl", audio.full_scale_db_spl)
    return detect_pulses(audio.samples, audio.sample_rate, audio.start_time, **options)
