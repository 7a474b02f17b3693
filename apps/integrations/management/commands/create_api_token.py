"""``create_api_token --agency SYSTEM_ID --name NAME``: print a new integration API token.

The token is printed once and only its SHA-256 hash is stored; creation is audited.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Agency
from apps.integrations.services import api_token_create


class Command(BaseCommand):
    help = "Create an agency-scoped API token for a dispatch / CAD system and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--agency", required=True, help="System id of the agency.")
        parser.add_argument("--name", required=True, help="What uses it, e.g. 'CAD east'.")

    def handle(self, *args, agency: str, name: str, **options):
        found = Agency.objects.filter(system_id=agency.strip()).first()
        if found is None:
            raise CommandError(f"No agency with system id {agency!r}.")
        try:
            created = api_token_create(agency=found, name=name)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stderr.write(
            f"Token {created.token.name!r} for agency {found.system_id} (prefix "
            f"{created.token.prefix}). Store it now: it cannot be shown again."
        )
        self.stdout.write(created.plaintext)
