"""Per-pulse features computed from waveforms."""

import math

import numpy as np
import pytest

from apps.acoustics.features import FEATURE_NAMES, compute_features, validate_features
from apps.acoustics.generator.physics import friedlander

FS = 12_000
ONSET = 300


def _with_noise(signal, *, noise_rms=0.002, seed=0):
    rng = np.random.default_rng(seed)
    wave = rng.normal(0.0, noise_rms, ONSET + 3000)
    wave[ONSET : ONSET + len(signal)] += signal[:3000]
    return wave


def _impulse(t_plus=1e-3, peak=1.0):
    return friedlander(sample_rate=FS, peak_pa=peak, positive_phase_s=t_plus, length_s=0.02)


def _slow_tone(rise_s=0.05):
    t = np.arange(3000) / FS
    return 0.5 * np.sin(2 * np.pi * 400 * t) * np.minimum(t / rise_s, 1.0)


def test_names_are_stable_and_complete():
    features = compute_features(waveform=_with_noise(_impulse()), sample_rate=FS, onset_index=ONSET)
    assert tuple(features) == FEATURE_NAMES
    assert all(isinstance(v, float) and math.isfinite(v) for v in features.values())


def test_impulse_rises_fast_and_slow_onset_sound_rises_slowly():
    impulse = compute_features(waveform=_with_noise(_impulse()), sample_rate=FS, onset_index=ONSET)
    slow = compute_features(waveform=_with_noise(_slow_tone()), sample_rate=FS, onset_index=ONSET)
    assert impulse["rise_time_ms"] < 1.0
    assert slow["rise_time_ms"] > 20.0
    assert impulse["duration_ms"] < 20.0 < slow["duration_ms"]
    assert impulse["crest_factor_db"] > slow["crest_factor_db"] + 10


def test_power_of_a_steady_tone_is_its_rms_level():
    t = np.arange(3300) / FS
    tone = 0.2 * np.sin(2 * np.pi * 1000 * t)
    wave = _with_noise(np.zeros(1), noise_rms=1e-4)
    wave[ONSET:] += tone[ONSET:]
    features = compute_features(waveform=wave, sample_rate=FS, onset_index=ONSET)
    expected = 20 * math.log10(0.2 / math.sqrt(2) / 20e-6)
    assert features["power_db_spl"] == pytest.approx(expected, abs=0.1)
    assert features["peak_db_spl"] == pytest.approx(expected + 3.01, abs=0.1)
    # All of a 1 kHz tone's power falls in the 800-1600 Hz band.
    assert features["band_4"] > 0.95


def test_snr_rises_by_20_db_when_noise_falls_tenfold():
    loud = compute_features(
        waveform=_with_noise(_impulse(), noise_rms=0.01), sample_rate=FS, onset_index=ONSET
    )
    quiet = compute_features(
        waveform=_with_noise(_impulse(), noise_rms=0.001), sample_rate=FS, onset_index=ONSET
    )
    assert quiet["snr_db"] - loud["snr_db"] == pytest.approx(20.0, abs=2.0)


def test_band_spectrum_is_normalised_and_shorter_blasts_are_brighter():
    long_blast = compute_features(
        waveform=_with_noise(_impulse(t_plus=3e-3)), sample_rate=FS, onset_index=ONSET
    )
    short_blast = compute_features(
        waveform=_with_noise(_impulse(t_plus=0.3e-3)), sample_rate=FS, onset_index=ONSET
    )
    for features in (long_blast, short_blast):
        bands = [v for k, v in features.items() if k.startswith("band_")]
        assert sum(bands) == pytest.approx(1.0)
        assert min(bands) >= 0
    assert short_blast["spectral_centroid_hz"] > 2 * long_blast["spectral_centroid_hz"]


def test_repeated_impulses_are_counted():
    train = np.zeros(3000)
    for start in (0, 600, 1200, 1800):  # every 50 ms: a jackhammer at 20 Hz
        train[start : start + 240] += _impulse()[:240]
    features = compute_features(waveform=_with_noise(train), sample_rate=FS, onset_index=ONSET)
    assert features["n_onsets"] == 4.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(waveform=np.full(3300, np.nan), sample_rate=FS, onset_index=ONSET), "NaN"),
        (dict(waveform=np.zeros((2, 3300)), sample_rate=FS, onset_index=ONSET), "one-dimensional"),
        (dict(waveform=np.zeros(3300), sample_rate=0, onset_index=ONSET), "sample rate"),
        (dict(waveform=np.zeros(3300), sample_rate=FS, onset_index=5000), "outside"),
        (dict(waveform=np.zeros(3300), sample_rate=FS, onset_index=3), "before the onset"),
        (dict(waveform=np.zeros(350), sample_rate=FS, onset_index=ONSET), "after the onset"),
    ],
)
def test_bad_waveforms_give_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_features(**kwargs)


def test_validate_features_rejects_unknown_missing_and_nan():
    good = compute_features(waveform=_with_noise(_impulse()), sample_rate=FS, onset_index=ONSET)
    assert validate_features(good) == good
    with pytest.raises(ValueError, match="unknown feature"):
        validate_features({**good, "loudness": 1.0})
    with pytest.raises(ValueError, match="missing"):
        validate_features({k: v for k, v in good.items() if k != "snr_db"})
    with pytest.raises(ValueError, match="not finite"):
        validate_features({**good, "snr_db": float("nan")})
