"""Register a sensor: ``register_sensor --agency 123 --serial S-1 --lat --lon --elevation``.

Give the sensor's public key with ``--public-key FILE`` (PEM or raw base64), or let the
command generate the key pair with ``--key-out FILE``: the private key (PEM, mode 0600)
is written there for the sensor agent. Nothing is written when anything is wrong.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts.models import Agency
from apps.geo.models import CoverageArea
from apps.sensors import services
from apps.sensors.signing import generate_private_key, private_key_pem, public_key_b64


def finite_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Register a sensor with its Ed25519 public key (or generate the key pair)."

    def add_arguments(self, parser):
        parser.add_argument("--agency", required=True, help="System id of the agency.")
        parser.add_argument("--serial", required=True, help="Serial number (= key id).")
        parser.add_argument("--lat", required=True, type=finite_number, help="Latitude, degrees.")
        parser.add_argument("--lon", required=True, type=finite_number, help="Longitude, degrees.")
        parser.add_argument(
            "--elevation", required=True, type=finite_number, help="Metres above mean sea level."
        )
        parser.add_argument(
            "--position-error", type=finite_number, default=5.0, help="Position error, metres."
        )
        parser.add_argument(
            "--coverage-area", help="Name of the coverage area (default: by position)."
        )
        parser.add_argument("--firmware", default="")
        add_key_arguments(parser)

    def handle(self, *args, **options):
        agency = Agency.objects.filter(system_id=options["agency"]).first()
        if agency is None:
            raise CommandError(f"No agency with system id {options['agency']!r}.")
        coverage_area = None
        if options["coverage_area"]:
            coverage_area = CoverageArea.objects.filter(
                agency=agency, name=options["coverage_area"]
            ).first()
            if coverage_area is None:
                raise CommandError(
                    f"Agency {agency.system_id} has no coverage area {options['coverage_area']!r}."
                )

        key_out: Path | None = options["key_out"]
        public_key, private_key = sensor_key_from_options(
            key_out=key_out, public_key_path=options["public_key"]
        )

        try:
            # One transaction: a key file that cannot be written undoes the registration.
            with transaction.atomic():
                sensor = services.sensor_register(
                    agency=agency,
                    serial=options["serial"],
                    latitude=options["lat"],
                    longitude=options["lon"],
                    elevation_m=options["elevation"],
                    position_error_m=options["position_error"],
                    public_key=public_key,
                    firmware=options["firmware"],
                    coverage_area=coverage_area,
                )
                if private_key is not None:
                    _write_private(key_out, private_key_pem(private_key))
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write {key_out}: {exc.strerror}.") from exc
        if private_key is not None:
            self.stdout.write(f"Private key written to {key_out} (keep it on the sensor only).")
        area = sensor.coverage_area.name if sensor.coverage_area else "none"
        self.stdout.write(
            self.style.SUCCESS(
                f"Registered sensor {sensor.serial_number} for agency {agency.system_id} "
                f"(coverage area: {area})."
            )
        )


def add_key_arguments(parser) -> None:
    """``--public-key FILE`` or ``--key-out FILE`` (a new pair), exactly one of them."""
    keys = parser.add_mutually_exclusive_group(required=True)
    keys.add_argument("--public-key", type=Path, help="File with the Ed25519 public key.")
    keys.add_argument(
        "--key-out", type=Path, help="Generate a key pair; write the private key here."
    )


def sensor_key_from_options(*, key_out: Path | None, public_key_path: Path | None):
    """(public key, private key or None): a new pair when ``key_out`` is given (checked to
    be writable, never overwritten), else the public key read from ``public_key_path``."""
    if key_out is not None:
        if key_out.exists():
            raise CommandError(f"{key_out} exists; refusing to overwrite a private key.")
        if not key_out.parent.is_dir():
            raise CommandError(f"Directory {key_out.parent} does not exist.")
        private_key = generate_private_key()
        return public_key_b64(private_key.public_key()), private_key
    try:
        return public_key_path.read_bytes(), None
    except OSError as exc:
        raise CommandError(f"Cannot read {public_key_path}: {exc.strerror}.") from exc


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _describe(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)
