"""Propagate source events to sensors and render what each sensor reports.

For every (event, sensor) pair the paths are: the direct ray (line of sight, or diffracted
round a building edge: a few ms later and duller), image-source echoes from building
facades near the source or near the sensor (always longer than the direct ray), and for
supersonic bullets the shock cone. Each path is a frequency response (spherical spreading,
ISO 9613-1 absorption, diffraction or reflection loss, delay); the sensor's 12 kHz window
is the sum of all paths that arrive in it plus ambient noise, and the per-pulse features
are computed from that window exactly as a sensor would.
"""

from __future__ import annotations

import math
import uuid as uuid_module
from dataclasses import dataclass, field

import numpy as np

from apps.acoustics.features import compute_features
from apps.acoustics.generator.physics import (
    absorption_db_per_m,
    diffraction_loss_db,
    n_wave,
    pa_from_db_spl,
    shock_arrival,
)
from apps.acoustics.generator.sources import SOURCE_RATE_HZ, Emission
from apps.acoustics.sound import speed_of_sound, wind_vector
from apps.acoustics.types import Pulse, Weather

SENSOR_RATE_HZ = 12_000
PRE_ONSET_S = 0.025
WINDOW_S = 0.250
FFT_SIZE = 4096  # 341 ms at 12 kHz: room for the window plus the tail of the last path
_DECIMATION = SOURCE_RATE_HZ // SENSOR_RATE_HZ
FREQUENCIES_HZ = np.fft.rfftfreq(FFT_SIZE, 1.0 / SENSOR_RATE_HZ)

# TN 098: onset picking error through ShotSpotter sensors.
NEARBY_FACADE_M = 150.0
REVERB_TAU_S = (0.020, 0.080)  # amplitude decay time constant of the reverberant tail

PICKING_MEAN_S = -316e-6
PICKING_SIGMA_S = 99.6e-6


@dataclass
class Sensor:
    sensor_id: str
    xyz: np.ndarray
    noise_db_spl: float  # ambient noise RMS level
    online: bool = True


@dataclass
class Reflector:
    """A building facade, modelled as an image-source reflection point."""

    xyz: np.ndarray
    loss_db: float
    sensor_index: int | None = None  # near one sensor only, or None: near the sources


@dataclass
class Conditions:
    weather: Weather = field(default_factory=Weather)
    humidity_percent: float = 60.0
    pressure_kpa: float = 101.325
    nlos_probability: float = 0.25
    nlos_path_difference_m: tuple[float, float] = (0.2, 1.5)
    picking_error: bool = True
    round_to_ms: bool = True
    dropout_probability: float = 0.03
    min_snr_db: float = 3.0
    dead_time_s: float = 0.030
    echoes: bool = True


@dataclass
class Arrival:
    sensor_index: int
    emission_index: int
    t: float  # true arrival time, epoch s
    distance_m: float  # path length for absorption
    amplitude: float  # pressure factor re the 1 m waveform (spreading, directivity, losses)
    path: str  # direct | diffracted | echo | shock
    diffraction_delta_m: float = 0.0
    predicted_peak_pa: float = 0.0
    shock_wave: np.ndarray | None = None


def band_limited_spectrum(wave: np.ndarray) -> np.ndarray:
    """Spectrum on the sensor's 12 kHz FFT grid of a SOURCE_RATE_HZ waveform (ideal anti-alias)."""
    n_hi = FFT_SIZE * _DECIMATION
    padded = np.zeros(n_hi)
    padded[: min(len(wave), n_hi)] = wave[:n_hi]
    return np.fft.rfft(padded)[: FFT_SIZE // 2 + 1] / _DECIMATION


def _travel_times(vectors: np.ndarray, *, c: float, wind: np.ndarray) -> np.ndarray:
    """Straight-ray travel times along many vectors (..., 3), wind added along each ray."""
    distance = np.linalg.norm(vectors, axis=-1)
    along = (vectors[..., :2] @ wind) / np.maximum(distance, 1e-9)
    return distance / (c + along)


def _directivity_gains(emission: Emission, towards: np.ndarray) -> np.ndarray:
    """Muzzle directivity: full level ahead, front_back_db less behind (cardioid in dB)."""
    if emission.facing_deg is None or emission.front_back_db == 0:
        return np.ones(towards.shape[:-1])
    bearing = np.arctan2(towards[..., 0], towards[..., 1])
    angle = bearing - math.radians(emission.facing_deg)
    return 10.0 ** (-emission.front_back_db * (1 - np.cos(angle)) / 2 / 20.0)


def propagate(
    *,
    emissions: list[Emission],
    sensors: list[Sensor],
    reflectors: list[Reflector],
    conditions: Conditions,
    rng: np.random.Generator,
) -> list[Arrival]:
    """Arrivals of all emissions at all sensors (true times, no picking error yet).

    Paths whose predicted peak is far below the sensor's noise are dropped here: they
    could neither be picked nor change a picked pulse's features measurably.
    """
    weather = conditions.weather
    c = speed_of_sound(weather.temperature_c)
    wind = wind_vector(speed_ms=weather.wind_speed_ms, from_deg=weather.wind_from_deg)
    alpha_args = dict(
        temperature_c=weather.temperature_c,
        humidity_percent=conditions.humidity_percent,
        pressure_kpa=conditions.pressure_kpa,
    )
    sensor_xyz = np.array([s.xyz for s in sensors])
    audible = 0.5 * np.array([pa_from_db_spl(s.noise_db_spl) for s in sensors])
    shared = [r for r in reflectors if r.sensor_index is None]
    shared_xyz = np.array([r.xyz for r in shared]).reshape(-1, 3)
    shared_gain = 10 ** (-np.array([r.loss_db for r in shared]) / 20)
    own = [r for r in reflectors if r.sensor_index is not None]
    own_xyz = np.array([r.xyz for r in own]).reshape(-1, 3)
    own_sensor = np.array([r.sensor_index for r in own], dtype=int)
    own_gain = 10 ** (-np.array([r.loss_db for r in own]) / 20)
    low, high = conditions.nlos_path_difference_m
    # Whether a building blocks the line of sight is a property of the place, so it is
    # drawn once per (source position, sensor) and shared by every shot of a source.
    blocked: dict[str, np.ndarray] = {}
    arrivals: list[Arrival] = []

    def add(s_index, e_index, t, distance, gain, path, delta, peak):
        for i in np.nonzero(peak >= audible[s_index])[0]:
            arrivals.append(
                Arrival(
                    int(s_index[i]),
                    e_index,
                    float(t[i]),
                    float(distance[i]),
                    float(gain[i]),
                    path,
                    float(delta[i]),
                    float(peak[i]),
                )
            )

    for e_index, emission in enumerate(emissions):
        alpha_dom = float(absorption_db_per_m(emission.dominant_hz, **alpha_args))
        rays = sensor_xyz - emission.xyz
        distance = np.linalg.norm(rays, axis=1)
        gain = _directivity_gains(emission, rays) / np.maximum(distance, 1.0)
        key = emission.source_id + emission.kind
        if key not in blocked:
            nlos = rng.random(len(sensors)) < conditions.nlos_probability
            blocked[key] = np.where(nlos, rng.uniform(low, high, len(sensors)), 0.0)
        delta = blocked[key]
        t_direct = emission.t + _travel_times(rays, c=c, wind=wind) + delta / c
        loss_db = alpha_dom * distance + np.where(
            delta > 0,
            diffraction_loss_db(emission.dominant_hz, path_difference_m=delta, speed_ms=c),
            0.0,
        )
        peak = emission.peak_pa * gain * 10 ** (-loss_db / 20)
        everyone = np.arange(len(sensors))
        for path, mask in (("direct", delta == 0), ("diffracted", delta > 0)):
            add(
                everyone[mask],
                e_index,
                t_direct[mask],
                distance[mask],
                gain[mask],
                path,
                delta[mask],
                peak[mask],
            )
        if emission.bullet is not None:
            for s_index, sensor in enumerate(sensors):
                arrivals.extend(
                    _shock_arrivals(emission, e_index, sensor, s_index, c=c, alpha_args=alpha_args)
                )
        if not conditions.echoes:
            continue
        # Facades by the source: only those within a block of this emission reflect it.
        nearby = np.linalg.norm(shared_xyz[:, :2] - emission.xyz[:2], axis=1) <= NEARBY_FACADE_M
        if np.any(nearby):
            near_xyz = shared_xyz[nearby]
            leg1 = near_xyz - emission.xyz  # (r, 3)
            leg2 = sensor_xyz[None, :, :] - near_xyz[:, None, :]  # (r, s, 3)
            length = np.linalg.norm(leg1, axis=1)[:, None] + np.linalg.norm(leg2, axis=2)
            t_echo = (
                emission.t
                + _travel_times(leg1, c=c, wind=wind)[:, None]
                + _travel_times(leg2, c=c, wind=wind)
            )
            echo_gain = (_directivity_gains(emission, leg1) * shared_gain[nearby])[:, None] / length
            peak = emission.peak_pa * echo_gain * 10 ** (-alpha_dom * length / 20)
            s_index = np.broadcast_to(everyone[None, :], length.shape)
            add(
                s_index.ravel(),
                e_index,
                t_echo.ravel(),
                length.ravel(),
                echo_gain.ravel(),
                "echo",
                np.zeros(length.size),
                peak.ravel(),
            )
        if len(own):
            leg1 = own_xyz - emission.xyz
            leg2 = sensor_xyz[own_sensor] - own_xyz
            length = np.linalg.norm(leg1, axis=1) + np.linalg.norm(leg2, axis=1)
            t_echo = (
                emission.t
                + _travel_times(leg1, c=c, wind=wind)
                + _travel_times(leg2, c=c, wind=wind)
            )
            echo_gain = _directivity_gains(emission, leg1) * own_gain / length
            peak = emission.peak_pa * echo_gain * 10 ** (-alpha_dom * length / 20)
            add(own_sensor, e_index, t_echo, length, echo_gain, "echo", np.zeros(len(own)), peak)
    return arrivals


def _shock_arrivals(emission, e_index, sensor, s_index, *, c, alpha_args) -> list[Arrival]:
    bullet = emission.bullet
    hit = shock_arrival(
        muzzle_xyz=emission.xyz,
        direction=bullet.direction,
        bullet_speed_ms=bullet.speed_ms,
        supersonic_range_m=bullet.supersonic_range_m,
        sensor_xyz=sensor.xyz,
        speed_ms=c,
    )
    if hit is None:
        return []
    delay, miss = hit
    peak = bullet.peak_pa_at_1m * miss**-0.75
    duration = bullet.duration_s_at_1m * miss**0.25
    wave = n_wave(sample_rate=SOURCE_RATE_HZ, peak_pa=peak, duration_s=duration)
    alpha = float(absorption_db_per_m(0.5 / duration, **alpha_args))
    return [
        Arrival(
            s_index,
            e_index,
            emission.t + delay,
            miss,
            1.0,
            "shock",
            0.0,
            peak * 10 ** (-alpha * miss / 20),
            wave,
        )
    ]


@dataclass
class RenderedPulse:
    pulse: Pulse
    arrival: Arrival
    true_onset_t: float
    waveform: np.ndarray


def _reverberation(rng: np.random.Generator) -> np.ndarray:
    """Transfer function of a diffuse urban reverberation tail following each arrival.

    Many weak reflections off facades, cars and trees: exponentially decaying noise from
    1 ms on, with total energy between -4 and +8 dB of the arrival itself. Real gunshot
    pulses in the Pittsburgh audio decay over tens of milliseconds, not the 2 ms of the
    muzzle blast in free field.
    """
    t = np.arange(FFT_SIZE) / SENSOR_RATE_HZ
    tail = rng.standard_normal(FFT_SIZE) * np.exp(
        -t / rng.uniform(REVERB_TAU_S[0], REVERB_TAU_S[1])
    )
    tail[t < 0.001] = 0.0
    energy = 10 ** (rng.uniform(-4.0, 8.0) / 10)
    tail *= math.sqrt(energy / float(np.sum(tail**2)))
    return np.fft.rfft(tail)


class _NoiseBank:
    """Ambient noise per sensor: one long pink-noise record, sliced at random offsets."""

    def __init__(self, rng: np.random.Generator, *, seconds: float = 4.0):
        self.rng = rng
        n = int(seconds * SENSOR_RATE_HZ)
        freqs = np.fft.rfftfreq(n, 1.0 / SENSOR_RATE_HZ)
        spectrum = rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))
        spectrum /= np.sqrt(np.maximum(freqs, 30.0))
        spectrum[0] = 0
        noise = np.fft.irfft(spectrum, n)
        self.unit = noise / np.sqrt(np.mean(noise**2))

    def slice(self, *, length: int, rms_pa: float) -> np.ndarray:
        start = int(self.rng.integers(0, len(self.unit) - length))
        return self.unit[start : start + length] * rms_pa


def select_and_render(
    *,
    arrivals: list[Arrival],
    emissions: list[Emission],
    sensors: list[Sensor],
    conditions: Conditions,
    rng: np.random.Generator,
) -> list[RenderedPulse]:
    """What each sensor reports: detectable onsets, one per dead time, with features."""
    weather = conditions.weather
    alpha = absorption_db_per_m(
        np.maximum(FREQUENCIES_HZ, 1.0),
        temperature_c=weather.temperature_c,
        humidity_percent=conditions.humidity_percent,
        pressure_kpa=conditions.pressure_kpa,
    )
    c = speed_of_sound(weather.temperature_c)
    spectra: dict[int, np.ndarray] = {}
    received: dict[int, tuple[int, np.ndarray]] = {}
    noise_bank = _NoiseBank(rng)

    def render_arrival(arrival: Arrival) -> tuple[int, np.ndarray]:
        """The arrival's pressure at the sensor from its whole-sample start, rendered once."""
        key = id(arrival)
        if key not in received:
            if arrival.shock_wave is not None:
                source = band_limited_spectrum(arrival.shock_wave)
            else:
                if arrival.emission_index not in spectra:
                    spectra[arrival.emission_index] = band_limited_spectrum(
                        emissions[arrival.emission_index].waveform
                    )
                source = spectra[arrival.emission_index]
            loss_db = alpha * arrival.distance_m
            if arrival.diffraction_delta_m:
                loss_db = loss_db + diffraction_loss_db(
                    FREQUENCIES_HZ, path_difference_m=arrival.diffraction_delta_m, speed_ms=c
                )
            position = arrival.t * SENSOR_RATE_HZ
            whole = math.floor(position)
            fraction = position - whole
            transfer = np.exp(
                -loss_db * (math.log(10) / 20)
                - 2j * np.pi * FREQUENCIES_HZ * fraction / SENSOR_RATE_HZ
            )
            if arrival.shock_wave is None:
                transfer = transfer * (1.0 + _reverberation(rng))
            received[key] = (whole, np.fft.irfft(source * arrival.amplitude * transfer, FFT_SIZE))
        return received[key]

    by_sensor: dict[int, list[Arrival]] = {}
    for arrival in arrivals:
        by_sensor.setdefault(arrival.sensor_index, []).append(arrival)
    rendered: list[RenderedPulse] = []
    n_window = int(round((PRE_ONSET_S + WINDOW_S) * SENSOR_RATE_HZ))
    n_pre = int(round(PRE_ONSET_S * SENSOR_RATE_HZ))
    for s_index in sorted(by_sensor):
        sensor = sensors[s_index]
        if not sensor.online:
            continue
        noise_rms = pa_from_db_spl(sensor.noise_db_spl)
        all_here = sorted(by_sensor[s_index], key=lambda a: a.t)
        times_here = np.array([a.t for a in all_here])
        # A pulse is only picked if its peak clearly stands above the ambient noise.
        candidates = [a for a in all_here if a.predicted_peak_pa >= 2.0 * noise_rms]
        kept: list[Arrival] = []
        for arrival in candidates:
            if kept and arrival.t - kept[-1].t < conditions.dead_time_s:
                # Within the picker's dead time only a much louder onset starts a new pulse.
                if arrival.predicted_peak_pa < 2.0 * kept[-1].predicted_peak_pa:
                    continue
            kept.append(arrival)
        for arrival in kept:
            if rng.random() < conditions.dropout_probability:
                continue
            window_start = math.floor(arrival.t * SENSOR_RATE_HZ) - n_pre
            first = int(np.searchsorted(times_here, window_start / SENSOR_RATE_HZ))
            last = int(np.searchsorted(times_here, (window_start + n_window) / SENSOR_RATE_HZ))
            waveform = noise_bank.slice(length=n_window, rms_pa=noise_rms)
            for other in all_here[first:last]:
                whole, wave = render_arrival(other)
                offset = whole - window_start
                if 0 <= offset < n_window:
                    waveform[offset:] += wave[: n_window - offset]
            features = compute_features(
                waveform=waveform, sample_rate=SENSOR_RATE_HZ, onset_index=n_pre
            )
            if features["snr_db"] < conditions.min_snr_db:
                continue
            reported_t = arrival.t
            if conditions.picking_error:
                reported_t += rng.normal(PICKING_MEAN_S, PICKING_SIGMA_S)
            if conditions.round_to_ms:
                reported_t = round(reported_t * 1000.0) / 1000.0
            pulse = Pulse(
                pulse_uuid=str(uuid_module.UUID(bytes=rng.bytes(16), version=4)),
                sensor_id=sensor.sensor_id,
                t=reported_t,
                x=float(sensor.xyz[0]),
                y=float(sensor.xyz[1]),
                z=float(sensor.xyz[2]),
                power_db_spl=round(features["power_db_spl"], 4),
                snr_db=round(features["snr_db"], 4),
                location_error_m=0.03,
                features={"features": {k: round(v, 6) for k, v in features.items()}},
            )
            rendered.append(RenderedPulse(pulse, arrival, arrival.t, waveform))
    rendered.sort(key=lambda r: r.pulse.t)
    return rendered
