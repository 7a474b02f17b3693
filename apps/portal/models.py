"""Who opened which published incident (once per user): stops toasters and reminders."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class IncidentOpen(models.Model):
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="opens"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["opened_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "user"], name="incident_opened_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} opened {self.incident_id}"
