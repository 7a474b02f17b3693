"""`manage.py detect_pulses WAV [WAV ...]`: detect impulses in sensor audio.

Reads live-fire audio (time of the first sample from the companion `.json`) and
ShotSpotter WAVs with an `smj0` chunk, and prints one JSON line per file:
`{"source", "serial", "position", "pulses": [{"pulse_uuid", "arrival_time_utc",
"power_db_spl", "signal_to_noise_db", "features"}]}`. Unreadable files are reported on
stderr; the command then exits non-zero after processing the others.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from apps.acoustics.detection import DEFAULT_FULL_SCALE_DB_SPL, DEFAULT_THRESHOLD, detect_in_audio
from apps.acoustics.wavfiles import AudioFileError, read_sensor_audio

# Pulse ids are derived from sensor and arrival time so re-running is idempotent.
PULSE_NAMESPACE = uuid.UUID("6f1c1a52-5f0e-4c53-9a8e-2d4b1f6f0c31")


def format_utc_micro(t: float) -> str:
    """Epoch seconds -> `YYYY-MM-DDTHH:MM:SS.ffffffZ` (always microseconds)."""
    whole = math.floor(t)
    micro = round((t - whole) * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    stamp = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micro:06d}Z"


def pulse_record(*, serial: str, pulse) -> dict:
    arrival = format_utc_micro(pulse.arrival_time)
    return {
        "pulse_uuid": str(uuid.uuid5(PULSE_NAMESPACE, f"{serial}/{arrival}")),
        "arrival_time_utc": arrival,
        "power_db_spl": round(pulse.power_db_spl, 2),
        "signal_to_noise_db": round(pulse.signal_to_noise_db, 2),
        "features": {name: round(value, 6) for name, value in pulse.features.items()},
    }


class Command(BaseCommand):
    help = (
        "Detect pulses (TN 098 step kernel on the Hilbert envelope) in sensor WAV files: "
        "live-fire audio with a companion .json, or ShotSpotter WAVs with an smj0 chunk. "
        "Prints one JSON line per file."
    )

    def add_arguments(self, parser):
        parser.add_argument("wavs", nargs="+", metavar="WAV")
        parser.add_argument(
            "--threshold",
            type=float,
            default=DEFAULT_THRESHOLD,
            help=f"step-kernel score threshold in noise floors (default {DEFAULT_THRESHOLD})",
        )
        parser.add_argument(
            "--full-scale-db-spl",
            type=float,
            default=None,
            help="sound level of a full-scale sample; default: the file's own (smj0) or "
            f"{DEFAULT_FULL_SCALE_DB_SPL}",
        )
        parser.add_argument(
            "--no-features", action="store_true", help="skip the 250 ms pulse features"
        )

    def handle(self, *args, **options):
        threshold = options["threshold"]
        if not (math.isfinite(threshold) and threshold > 0):
            raise CommandError(f"--threshold must be a positive number, got {threshold}")
        settings = {"threshold": threshold, "with_features": not options["no_features"]}
        if options["full_scale_db_spl"] is not None:
            settings["full_scale_db_spl"] = options["full_scale_db_spl"]
        failures = []
        for path in options["wavs"]:
            try:
                audio = read_sensor_audio(path)
                pulses = detect_in_audio(audio, **settings)
            except (AudioFileError, ValueError) as error:
                self.stderr.write(f"detect_pulses: {error}")
                failures.append(path)
                continue
            record = {
                "source": str(path),
                "serial": audio.serial,
                "start_time_utc": format_utc_micro(audio.start_time),
                "sample_rate": audio.sample_rate,
                "position": audio.position,
                "pulses": [pulse_record(serial=audio.serial, pulse=p) for p in pulses],
            }
            self.stdout.write(json.dumps(record))
        if failures:
            raise CommandError(f"{len(failures)} of {len(options['wavs'])} file(s) unreadable")
