"""`manage.py relocate PATH [PATH ...]`: associate and locate the shots in pulse files.

Each PATH is a live-fire test folder (`*.allpulses.json` and, if present,
`*.weather.json`) or one allpulses file. One JSON line per PATH on stdout, positions in
the input's own frame.
"""

from __future__ import annotations

import argparse
import json
import math

from django.core.management.base import BaseCommand, CommandError

from apps.acoustics.association import AssociationError, associate
from apps.acoustics.io import PulseFileError, format_utc, read_pulse_input
from apps.acoustics.sound import DEFAULT_TEMPERATURE_C, speed_of_sound, weather_wind
from apps.acoustics.types import LocatedShot


def finite_height(text: str) -> float:
    """--source-z: a finite number of metres (argparse's float takes 'nan' and 'inf')."""
    try:
        height = float(text)
    except ValueError:
        height = math.nan
    if not math.isfinite(height):
        raise argparse.ArgumentTypeError(f"must be a finite number of metres, got {text!r}")
    return height


def shot_record(shot: LocatedShot) -> dict:
    return {
        "t_utc": format_utc(round(shot.t_emit, 6)),
        "x": round(shot.x, 3),
        "y": round(shot.y, 3),
        "z": None if shot.z is None else round(shot.z, 3),
        "pulse_uuids": list(shot.pulse_uuids),
        "n_sensors": shot.n_sensors,
        "residual_rms_ms": round(shot.residual_rms_s * 1000.0, 3),
        "ellipse95_m": [
            round(shot.ellipse95_major_m, 3),
            round(shot.ellipse95_minor_m, 3),
            round(shot.ellipse95_azimuth_deg, 1),
        ],
    }


class Command(BaseCommand):
    requires_system_checks = []  # pure computation: no database, no settings to check
    help = (
        "Group pulses into shots and locate them. PATH is a live-fire test folder or an "
        "allpulses JSON file; prints one JSON line per PATH."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--source-z",
            type=finite_height,
            default=None,
            help="2.5D: fix the shooter's height (input frame, metres); default 2D",
        )

    def handle(self, *args, **options):
        source_z = options["source_z"]
        paths = options["paths"]
        failures = []
        for path in paths:
            # An unreadable PATH does not stop the others (`relocate FP*/test_*`); the
            # command still exits non-zero, naming each failure.
            try:
                record = self._relocated(path, source_z=source_z)
            except CommandError as error:
                failures.append(str(error))
                if len(paths) > 1:
                    self.stderr.write(str(error))
                continue
            self.stdout.write(json.dumps(record))
        if failures and len(paths) == 1:
            raise CommandError(failures[0])
        if failures:
            raise CommandError(
                f"{len(failures)} of {len(paths)} paths could not be read or located"
            )

    def _relocated(self, path: str, *, source_z: float | None) -> dict:
        try:
            pulse_input = read_pulse_input(path)
        except PulseFileError as error:
            raise CommandError(str(error)) from None
        weather = pulse_input.weather
        temperature = weather.temperature_c if weather else DEFAULT_TEMPERATURE_C
        try:
            shots = associate(
                pulse_input.pulses,
                c=speed_of_sound(temperature),
                wind_xy=weather_wind(weather),
                source_z=source_z,
            )
        except AssociationError as error:
            raise CommandError(f"cannot locate shots in {path}: {error}") from None
        return {"source": path, "shots": [shot_record(s) for s in shots]}
