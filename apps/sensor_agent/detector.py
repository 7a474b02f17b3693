"""Pulse detection on a continuous audio stream, in chunks (TN 098 step kernel).

Wraps ``apps.acoustics.detection.detect_pulses``: each new chunk is analysed together
with the last second before it (the kernel and the noise floor need the past), and
pulses are reported once the 350 ms after them have arrived (the features use 250 ms).
What leaves this module is summary data only: time, level, SNR and numeric features.
"""

from __future__ import annotations

import math
import uuid

import numpy as np

from apps.acoustics.detection import DEFAULT_FULL_SCALE_DB_SPL, DetectedPulse, detect_pulses
from apps.acoustics.numbers import finite_float
from apps.sensor_agent.client import utc_iso

HISTORY_S = 1.0
HOLD_S = 0.35
DEDUPE_S = 0.005


class StreamDetector:
    def __init__(
        self,
        *,
        threshold: float,
        min_power_db_spl: float = 0.0,
        full_scale_db_spl: float | None = None,
    ):
        self.threshold = threshold
        self.min_power_db_spl = min_power_db_spl
        self.full_scale_db_spl = full_scale_db_spl
        self._buffer = np.zeros(0, dtype=np.float64)
        self._start = 0.0
        self._rate = 0
        self._full_scale = DEFAULT_FULL_SCALE_DB_SPL
        self._reported_until = -math.inf
        self._last_arrival = -math.inf

    def feed(
        self,
        samples: np.ndarray,
        *,
        sample_rate: int,
        start: float,
        full_scale_db_spl: float | None = None,
    ) -> list[DetectedPulse]:
        """Add audio that starts at ``start``; returns the pulses now complete."""
        out: list[DetectedPulse] = []
        x = np.asarray(samples)
        x = x.astype(np.float64) / 32768.0 if x.dtype == np.int16 else x.astype(np.float64)
        full_scale = self.full_scale_db_spl or full_scale_db_spl or DEFAULT_FULL_SCALE_DB_SPL
        end = self._start + len(self._buffer) / self._rate if self._rate else None
        contiguous = (
            end is not None
            and sample_rate == self._rate
            and full_scale == self._full_scale
            and abs(start - end) < 0.5 / sample_rate
        )
        if not contiguous:
            out.extend(self.flush())
            self._buffer = np.zeros(0, dtype=np.float64)
            self._start, self._rate, self._full_scale = start, sample_rate, full_scale
        self._buffer = np.concatenate((self._buffer, x))
        buffer_end = self._start + len(self._buffer) / self._rate
        ready_until = buffer_end - HOLD_S
        if ready_until > self._reported_until:
            out.extend(self._analyse(until=ready_until))
            self._reported_until = ready_until
        keep = int(round((HISTORY_S + HOLD_S) * self._rate))
        if len(self._buffer) > keep:
            drop = len(self._buffer) - keep
            self._buffer = self._buffer[drop:]
            self._start += drop / self._rate
        return out

    def flush(self) -> list[DetectedPulse]:
        """End of the stream (or a gap): report what is left."""
        if not self._rate or not len(self._buffer):
            return []
        out = self._analyse(until=math.inf)
        self._buffer = np.zeros(0, dtype=np.float64)
        self._reported_until = -math.inf
        return out

    def _analyse(self, *, until: float) -> list[DetectedPulse]:
        found = detect_pulses(
            self._buffer,
            self._rate,
            self._start,
            threshold=self.threshold,
            full_scale_db_spl=self._full_scale,
        )
        out = []
        for pulse in found:
            if not self._reported_until <= pulse.arrival_time < until:
                continue
            if pulse.arrival_time - self._last_arrival < DEDUPE_S:
                continue
            self._last_arrival = pulse.arrival_time
            if pulse.power_db_spl < self.min_power_db_spl:
                continue
            out.append(pulse)
        return out


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(float(value), low), high)


def pulse_payload(pulse: DetectedPulse, *, pulse_uuid: str | None = None) -> dict:
    """The API shape of a detected pulse: summary numbers only, never samples."""
    features = {
        name: round(float(value), 6)
        for name, value in pulse.features.items()
        if finite_float(value) is not None
    }
    return {
        "pulse_uuid": pulse_uuid or str(uuid.uuid4()),
        "arrival_time_utc": utc_iso(pulse.arrival_time),
        "power_db_spl": round(_clamp(pulse.power_db_spl, 0.0, 200.0), 3),
        "signal_to_noise_db": round(_clamp(pulse.signal_to_noise_db, -60.0, 200.0), 3),
        "features": features,
    }
