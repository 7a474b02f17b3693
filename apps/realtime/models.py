"""Every live update, kept as a row before it is pushed.

The row's id orders events; a browser that reconnects sends the last id it saw and
gets everything after it from here, so a dropped websocket loses no alert, and the
push itself (Redis) may fail without losing anything.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Audience(models.TextChoices):
    # Review-center staff (IRC reviewers, platform admins).
    REVIEW = "review", "Incident Review Center"
    # The users of one agency.
    AGENCY = "agency", "Agency"


class RealtimeEvent(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    audience = models.CharField(max_length=16, choices=Audience.choices)
    agency = models.ForeignKey(
        "accounts.Agency", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=64)
    incident_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["audience", "agency", "id"], name="realtime_stream")]
        constraints = [
            models.CheckConstraint(
                name="agency_events_name_their_agency",
                condition=(
                    models.Q(audience="agency", agency__isnull=False)
                    | models.Q(audience="review", agency__isnull=True)
                ),
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.audience} {self.kind}"

    def as_message(self) -> dict:
        return {
            "id": self.pk,
            "kind": self.kind,
            "incident_id": self.incident_id,
            "created_at": self.created_at.isoformat(),
            "payload": self.payload,
        }
