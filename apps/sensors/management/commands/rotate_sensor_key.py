"""Replace a sensor's key: ``rotate_sensor_key --serial S-1 (--public-key FILE | --key-out FILE)``.

For a new key pair on the sensor, or a private key that may have leaked: from then on the
old key's signatures are refused. ``--key-out`` generates the pair and writes the private
key (PEM, mode 0600) for the sensor agent. Audited (``sensor.key_rotated``). Nothing is
written when anything is wrong.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.sensors import services
from apps.sensors.management.commands.register_sensor import (
    _describe,
    _write_private,
    add_key_arguments,
    sensor_key_from_options,
)
from apps.sensors.models import Sensor
from apps.sensors.signing import private_key_pem


class Command(BaseCommand):
    help = "Replace a sensor's Ed25519 public key (or generate a new key pair)."

    def add_arguments(self, parser):
        parser.add_argument("--serial", required=True, help="Serial number (= key id).")
        add_key_arguments(parser)

    def handle(self, *args, **options):
        sensor = Sensor.objects.filter(serial_number=options["serial"]).first()
        if sensor is None:
            raise CommandError(f"No sensor with serial {options['serial']!r}.")
        key_out: Path | None = options["key_out"]
        public_key, private_key = sensor_key_from_options(
            key_out=key_out, public_key_path=options["public_key"]
        )
        try:
            # One transaction: a key file that cannot be written keeps the old key.
            with transaction.atomic():
                services.sensor_key_rotate(sensor=sensor, public_key=public_key)
                if private_key is not None:
                    _write_private(key_out, private_key_pem(private_key))
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write {key_out}: {exc.strerror}.") from exc
        if private_key is not None:
            self.stdout.write(f"Private key written to {key_out} (keep it on the sensor only).")
        self.stdout.write(
            self.style.SUCCESS(
                f"Sensor {sensor.serial_number} has a new key; the old key is refused from now on."
            )
        )
