"""Apply the retention rules now: ``manage.py apply_retention [--dry-run]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.privacy.models import RetentionTrigger
from apps.privacy.services import (
    RetentionConfigurationError,
    retention_apply,
    retention_periods,
)

LABELS = {
    "filtered_incidents": "filtered incidents",
    "filtered_incident_shots": "  their shots",
    "filtered_incident_pulses": "  their pulses",
    "pulses": "pulses in no shot",
    "dismissed_audio_clips": "audio clips of dismissed incidents",
    "dismissed_audio_files": "  their files removed from storage",
    "investigation_audio_clips": "audio clips of declined or cancelled investigation requests",
    "investigation_audio_files": "  their files removed from storage",
}


class Command(BaseCommand):
    help = (
        "Delete what the retention periods say is due (summary pulses in no shot, filtered "
        "incidents, audio of incidents decided not gunfire, audio of declined or cancelled "
        "investigation requests), log the run and audit it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted; delete and record nothing.",
        )

    def handle(self, *args, dry_run: bool = False, **options):
        try:
            periods = retention_periods()
            report = retention_apply(dry_run=dry_run, trigger=RetentionTrigger.COMMAND)
        except RetentionConfigurationError as error:
            raise CommandError(str(error)) from error
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"Retention periods (days): filtered incidents {periods['filtered_incidents']}, "
            f"pulses {periods['pulses']}, dismissed audio {periods['dismissed_audio']}, "
            f"declined or cancelled investigation audio {periods['investigation_audio']}"
        )
        for key, label in LABELS.items():
            self.stdout.write(f"{verb} {label}: {report.counts[key]}")
        for system_id, counts in sorted(report.per_agency.items()):
            text = ", ".join(f"{key}={value}" for key, value in counts.items() if value)
            self.stdout.write(f"  agency {system_id}: {text}")
        if dry_run:
            self.stdout.write("Dry run: nothing was deleted.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Retention run {report.run_id} recorded."))
