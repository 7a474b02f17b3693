"""Print (or write) the server's Ed25519 public key, for provisioning sensors.

``manage.py server_public_key [--out FILE]``: the public half of ``SERVER_SIGNING_KEY_FILE``
(under DEBUG, of the development key) as PEM. A sensor agent's ``server_public_key``
setting points at this file; the agent answers only audio requests signed with it.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from apps.sensors.server_key import server_public_key_pem


class Command(BaseCommand):
    help = "Print the server's Ed25519 public key (PEM) that sensors verify audio requests with."

    def add_arguments(self, parser):
        parser.add_argument(
            "--out", type=Path, help="Write it to this file instead of standard output."
        )

    def handle(self, *args, **options):
        try:
            pem = server_public_key_pem().decode("ascii")
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        if options["out"] is None:
            self.stdout.write(pem, ending="")
            return
        try:
            options["out"].write_text(pem, encoding="ascii")
        except OSError as error:
            raise CommandError(f"cannot write {options['out']}: {error.strerror}") from None
        self.stdout.write(f"Server public key written to {options['out']}.")
