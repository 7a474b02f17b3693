"""Write the console's reminder tone and gong (small mono WAVs) into static/sounds/."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand

RATE = 22_050


def reminder_tone() -> np.ndarray:
    """Two short beeps (880 Hz then 1175 Hz), 0.6 s in all."""
    parts = []
    for freq in (880.0, 1174.66):
        t = np.arange(int(0.18 * RATE)) / RATE
        envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
        parts.append(0.5 * envelope * np.sin(2 * np.pi * freq * t))
        parts.append(np.zeros(int(0.08 * RATE)))
    return np.concatenate(parts)


def gong() -> np.ndarray:
    """A struck metal plate: inharmonic partials decaying over 2.5 s."""
    t = np.arange(int(2.5 * RATE)) / RATE
    partials = [(110.0, 1.0, 1.2), (173.0, 0.6, 0.9), (262.0, 0.45, 0.7), (391.0, 0.3, 0.5)]
    signal = sum(a * np.exp(-t / d) * np.sin(2 * np.pi * f * t) for f, a, d in partials)
    attack = np.minimum(1.0, t / 0.005)
    return 0.45 * attack * signal / np.max(np.abs(signal))


def write_wav(path: Path, samples: np.ndarray) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())


class Command(BaseCommand):
    help = "Generate static/sounds/reminder.wav and static/sounds/gong.wav."

    def handle(self, *args, **options):
        folder = Path(settings.BASE_DIR) / "static" / "sounds"
        folder.mkdir(parents=True, exist_ok=True)
        for name, samples in (("reminder", reminder_tone()), ("gong", gong())):
            write_wav(folder / f"{name}.wav", samples)
            self.stdout.write(f"wrote {folder / name}.wav")
