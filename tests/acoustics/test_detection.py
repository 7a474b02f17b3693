"""Pulse detection: synthetic impulses with known onsets, and the live-fire recall."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.acoustics.bench import detection as detection_bench
from apps.acoustics.bench.detection import measure_live_fire, total
from apps.acoustics.detection import (
    DEFAULT_FULL_SCALE_DB_SPL,
    audio_present_mask,
    detect_in_audio,
    detect_pulses,
)
from apps.acoustics.features import validate_features
from apps.acoustics.wavfiles import SensorAudio

FS = 12000
T0 = 1_700_000_000.0


def friedlander(*, fs: int, peak: float, positive_s: float = 0.0015, b: float = 1.5) -> np.ndarray:
    """Friedlander blast wave p(t) = P (1 - t/T) exp(-b t / T), 20 ms long."""
    t = np.arange(int(0.020 * fs)) / fs
    return peak * (1 - t / positive_s) * np.exp(-b * t / positive_s)


def noisy(seconds: float, *, sigma: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, sigma, int(seconds * FS))


def place(signal: np.ndarray, pulse: np.ndarray, at: int) -> np.ndarray:
    out = signal.copy()
    out[at : at + len(pulse)] += pulse
    return out


@pytest.mark.parametrize("seed", range(8))
def test_single_impulse_in_noise_is_timed_within_half_a_millisecond(seed: int):
    rng = np.random.default_rng(100 + seed)
    onset = int(rng.integers(int(0.3 * FS), int(1.5 * FS)))
    audio = place(noisy(2.0, sigma=0.003, seed=seed), friedlander(fs=FS, peak=0.3), onset)
    pulses = detect_pulses(audio, FS, T0)
    assert len(pulses) == 1
    error = pulses[0].arrival_time - (T0 + onset / FS)
    assert abs(error) <= 0.0005, f"onset error {error * 1e3:.3f} ms"
    assert pulses[0].signal_to_noise_db > 20


@pytest.mark.parametrize("seed", range(4))
def test_two_impulses_60_ms_apart_are_both_detected(seed: int):
    first = int(0.7 * FS) + seed * 7
    second = first + int(0.060 * FS)
    audio = noisy(1.5, sigma=0.002, seed=seed)
    audio = place(audio, friedlander(fs=FS, peak=0.4), first)
    audio = place(audio, friedlander(fs=FS, peak=0.3), second)
    pulses = detect_pulses(audio, FS, T0)
    assert len(pulses) == 2
    for pulse, onset in zip(pulses, (first, second), strict=True):
        assert abs(pulse.arrival_time - (T0 + onset / FS)) <= 0.0005


def test_two_seconds_of_automatic_fire_are_all_detected():
    """30 rounds at 950 rpm (63 ms apart), each with a reverberant tail: all 30 found.

    The noise floor is a low percentile over 4 s, so the burst does not raise it.
    """
    audio = noisy(4.0, sigma=0.002, seed=11)
    onsets = [int((1.0 + i * 0.063) * FS) for i in range(30)]
    decay = np.exp(-np.arange(int(0.3 * FS)) / (0.08 * FS))
    for i, onset in enumerate(onsets):
        audio = place(audio, friedlander(fs=FS, peak=0.2), onset)
        tail = 0.02 * decay * np.random.default_rng(i).normal(0.0, 1.0, len(decay))
        end = min(onset + 24 + len(tail), len(audio))
        audio[onset + 24 : end] += tail[: end - onset - 24]
    pulses = detect_pulses(audio, FS, T0, with_features=False)
    assert len(pulses) == 30
    for pulse, onset in zip(pulses, onsets, strict=True):
        assert abs(pulse.arrival_time - (T0 + onset / FS)) <= 0.0005


@pytest.mark.parametrize("seed", range(5))
def test_detection_limit_of_a_bare_impulse(seed: int):
    """Measured: a lone 1.5 ms Friedlander is found from a peak of ~25x the noise sigma.

    (The 50 ms kernel integrates the envelope; real gunshots add reverberation that
    helps.) 30 sigma is always found, 5 sigma never, and nothing else is reported.
    """
    onset = FS
    strong = place(noisy(2.0, sigma=0.002, seed=seed), friedlander(fs=FS, peak=0.06), onset)
    (pulse,) = detect_pulses(strong, FS, T0, with_features=False)
    assert abs(pulse.arrival_time - (T0 + onset / FS)) <= 0.0005
    weak = place(noisy(2.0, sigma=0.002, seed=seed), friedlander(fs=FS, peak=0.01), onset)
    assert detect_pulses(weak, FS, T0, with_features=False) == []


def test_steady_tone_and_slow_ramp_yield_no_pulse():
    t = np.arange(3 * FS) / FS
    tone = 0.3 * np.sin(2 * math.pi * 1000.0 * t) + noisy(3.0, sigma=0.001, seed=1)
    assert detect_pulses(tone, FS, T0) == []
    # Amplitude rising slowly (over one second) is not an impulse.
    ramp = np.clip(t - 1.0, 0.0, 1.0) * 0.5 * np.sin(2 * math.pi * 700.0 * t)
    ramp = ramp + noisy(3.0, sigma=0.001, seed=2)
    assert detect_pulses(ramp, FS, T0) == []


def test_silence_and_digital_gaps_yield_no_pulse():
    assert detect_pulses(np.zeros(2 * FS), FS, T0) == []
    assert detect_pulses(noisy(2.0, sigma=0.002, seed=3), FS, T0) == []
    # Audio released with gaps of exact zeros: the gap edges are not pulses.
    audio = noisy(3.0, sigma=0.01, seed=4)
    audio[: FS // 2] = 0.0
    audio[int(1.5 * FS) : 2 * FS] = 0.0
    assert detect_pulses(audio, FS, T0) == []
    mask = audio_present_mask(audio, min_gap=60)
    assert not mask[: FS // 2].any() and mask[FS // 2 + 10 : int(1.5 * FS) - 10].all()


def test_power_follows_the_full_scale_calibration():
    onset = FS
    audio = place(noisy(2.0, sigma=0.001, seed=5), friedlander(fs=FS, peak=0.1), onset)
    (pulse,) = detect_pulses(audio, FS, T0)
    expected = DEFAULT_FULL_SCALE_DB_SPL + 20 * math.log10(0.1)
    assert pulse.power_db_spl == pytest.approx(expected, abs=0.5)
    (louder,) = detect_pulses(audio, FS, T0, full_scale_db_spl=100.0)
    assert louder.power_db_spl - pulse.power_db_spl == pytest.approx(100.0 - 93.1, abs=1e-9)


def test_features_cover_the_first_250_ms_and_validate():
    onset = FS
    audio = place(noisy(2.0, sigma=0.002, seed=6), friedlander(fs=FS, peak=0.3), onset)
    (pulse,) = detect_pulses(audio, FS, T0)
    features = validate_features(pulse.features)
    assert features["peak_db_spl"] == pytest.approx(pulse.power_db_spl, abs=0.5)
    # An impulse rises within its positive phase (1.5 ms here); slow sounds take tens of ms.
    assert features["rise_time_ms"] < 1.5
    assert detect_pulses(audio, FS, T0, with_features=False)[0].features == {}


def test_a_pulse_at_the_very_end_is_not_reported():
    audio = noisy(1.0, sigma=0.002, seed=8)
    audio = place(audio, friedlander(fs=FS, peak=0.3)[:40], len(audio) - 40)
    assert detect_pulses(audio, FS, T0) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"samples": np.zeros((2, 100))}, "one-dimensional"),
        ({"samples": np.array([0.0, np.nan] * 2000)}, "NaN"),
        ({"sample_rate": 100}, "too low"),
        ({"start_time": float("nan")}, "finite"),
        ({"tau_s": 0.0}, "tau"),
        ({"threshold": -1.0}, "threshold"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, message: str):
    args = {"samples": np.zeros(FS), "sample_rate": FS, "start_time": T0}
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in ("tau_s", "threshold")}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        detect_pulses(args["samples"], args["sample_rate"], args["start_time"], **options)


def test_long_input_is_processed_in_blocks_without_losing_or_doubling_pulses():
    """Pulses straddling the 60 s block edges are found once each, at the same times."""
    onsets = [5.0, 59.995, 60.0 + 0.07, 119.99, 120.5, 149.0]
    audio = noisy(150.0, sigma=0.002, seed=9)
    for t in onsets:
        audio = place(audio, friedlander(fs=FS, peak=0.3), int(round(t * FS)))
    pulses = detect_pulses(audio, FS, T0, with_features=False)
    assert len(pulses) == len(onsets)
    for pulse, t in zip(pulses, onsets, strict=True):
        assert abs(pulse.arrival_time - (T0 + round(t * FS) / FS)) <= 0.0005


def test_integer_pcm_is_scaled_like_float_samples():
    audio = place(noisy(2.0, sigma=0.002, seed=10), friedlander(fs=FS, peak=0.3), FS)
    pcm = np.round(audio * 32768).astype(np.int16)
    (from_pcm,) = detect_pulses(pcm, FS, T0, with_features=False)
    (from_float,) = detect_pulses(pcm / 32768.0, FS, T0, with_features=False)
    assert from_pcm.arrival_time == pytest.approx(from_float.arrival_time, abs=1e-9)
    assert from_pcm.power_db_spl == pytest.approx(from_float.power_db_spl, abs=1e-9)


def test_short_input_yields_nothing():
    assert detect_pulses(np.zeros(10), FS, T0) == []


@pytest.mark.slow
def test_live_fire_recall(shared_data: Path):
    """>= 95% of ShotSpotter-selected pulses on sensors with audio found within +-2 ms.

    Measured over all FP1-FP4 tests (342 files, 632 pulses): 96.2% (608), median offset
    +0.45 ms, 6.1 pulses reported per file (ShotSpotter's sensors: 4.4). The misses are
    4 pulses in spans the released audio zeroes out, ~12 strong pulses published 2-4 ms
    before any onset visible in the 12 kHz audio, and weak pulses on noisy sensors.
    """
    root = shared_data / "pittsburgh-live-fire"
    if not root.is_dir():
        pytest.skip(f"no live-fire data at {root}")
    overall = total(measure_live_fire(data_dir=root))
    assert overall.selected >= 600
    assert overall.recall >= 0.95, f"recall {overall.recall:.3f}"
    offsets_ms = np.abs(overall.offsets_s) * 1e3
    assert np.median(offsets_ms) < 0.8
    # Not a flood of false pulses: fewer than 10 per 10 s file on average (measured 6.1).
    assert overall.detected / overall.files < 10


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=-1.0, max_value=1.0, width=32),
            st.sampled_from([0.0, 1.0, -1.0, 1e-30]),
        ),
        min_size=0,
        max_size=3000,
    ),
    st.integers(min_value=0, max_value=6),
)
def test_fuzz_arbitrary_audio_never_crashes(values: list[float], repeat: int):
    """Any finite audio (constant, clipped, sparse, tiny) yields a list of sane pulses."""
    audio = np.tile(np.asarray(values, dtype=np.float32), repeat + 1)
    for pulse in detect_pulses(audio, FS, T0):
        assert 0 <= pulse.onset_sample < len(audio)
        assert math.isfinite(pulse.power_db_spl) and math.isfinite(pulse.signal_to_noise_db)
        assert validate_features(pulse.features)


def test_detect_in_audio_uses_the_files_full_scale():
    audio = place(noisy(2.0, sigma=0.001, seed=12), friedlander(fs=FS, peak=0.1), FS)
    sensor = SensorAudio(
        source="synthetic",
        samples=audio.astype(np.float32),
        sample_rate=FS,
        start_time=T0,
        serial="S",
        position={"x": 0.0, "y": 0.0, "z": 0.0},
        full_scale_db_spl=110.0,
    )
    (pulse,) = detect_in_audio(sensor, with_features=False)
    assert pulse.power_db_spl == pytest.approx(110.0 + 20 * math.log10(0.1), abs=0.5)
    (override,) = detect_in_audio(sensor, with_features=False, full_scale_db_spl=93.1)
    assert override.power_db_spl == pytest.approx(pulse.power_db_spl - 16.9, abs=1e-9)


def test_benchmark_without_data_says_so(tmp_path: Path):
    lines: list[str] = []
    assert detection_bench.run(data_dir=tmp_path / "absent", out=lines.append) == {}
    assert "no live-fire data" in lines[0]


@pytest.mark.slow
def test_benchmark_table_on_live_fire_data(shared_data: Path):
    root = shared_data / "pittsburgh-live-fire"
    if not root.is_dir():
        pytest.skip(f"no live-fire data at {root}")
    lines: list[str] = []
    results = detection_bench.run(data_dir=shared_data, quick=True, out=lines.append)
    assert set(results) == {"FP1", "FP2", "FP3", "FP4"}
    table = "\n".join(lines)
    assert "recall" in table and "files/s" in table
    (overall,) = [line for line in lines if line.startswith("all ")]
    assert float(overall.split()[4].rstrip("%")) >= 90.0
