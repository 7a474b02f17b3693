"""A log of the retention purges: when, by whom (beat or command), and what was deleted."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RetentionTrigger(models.TextChoices):
    BEAT = "beat", "Celery beat"
    COMMAND = "command", "Management command"


class RetentionRun(models.Model):
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=16, choices=RetentionTrigger.choices)
    # The instant the periods were counted back from ("now" of the run).
    now = models.DateTimeField()
    cutoffs = models.JSONField(default=dict, help_text="Rule -> ISO time; older is purged.")
    counts = models.JSONField(default=dict, help_text="Rule -> rows (and files) deleted.")
    per_agency = models.JSONField(default=dict, help_text="Agency system id -> counts.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"retention run {self.pk} at {self.started_at:%Y-%m-%d %H:%M:%S}"
