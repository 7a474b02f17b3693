"""Investigation requests: an agency asks the review center about a missed gunfire incident.

When the system missed something, an agency user files a request for one specific,
verified gunfire incident: when (with a tolerance), where (a point and a radius), the
case number and why (privacy policy: "only ... requests ... related to specific,
verified gunfire incidents"). A reviewer searches the stored summary pulses of the
agency's own sensors near that time and place, may run association on them to propose a
located shot, and may ask sensors for audio through the ordinary sensor audio-request
mechanism (``apps.incidents.models.AudioRequest`` with ``investigation`` set), bounded
by the constants below. Every step is an audit event the agency reads on the request.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.incidents.models import evidence_path

# The bounds of investigation audio (issue 8, privacy policy). Constants, not settings.
INVESTIGATION_AUDIO_MAX_DISTANCE_M = 800.0  # sensor to the place (or the located shot)
INVESTIGATION_AUDIO_MAX_WINDOW_S = 8.0  # per sensor, one window per sensor
SENSOR_BUFFER_HOURS = 72.0  # sensors purge their audio after this (apps.sensor_agent)

# What an agency may ask for.
JUSTIFICATION_MIN_CHARS = 40
TOLERANCE_MAX_S = 3600
RADIUS_MIN_M = 25.0
RADIUS_MAX_M = 2000.0


class InvestigationStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review (searching)"
    AUDIO_REQUESTED = "audio_requested", "Audio requested"
    COMPLETED = "completed", "Completed"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled by the agency"


OPEN_STATUSES = (
    InvestigationStatus.SUBMITTED,
    InvestigationStatus.IN_REVIEW,
    InvestigationStatus.AUDIO_REQUESTED,
)


class InvestigationSequence(models.Model):
    """Last request number given out per agency (row-locked while a number is taken)."""

    agency = models.OneToOneField(
        "accounts.Agency", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.agency_id}: {self.last_number}"


class InvestigationRequest(models.Model):
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.PROTECT, related_name="investigation_requests"
    )
    number = models.PositiveIntegerField(help_text="Sequential per agency, from 1.")
    status = models.CharField(
        max_length=20,
        choices=InvestigationStatus.choices,
        default=InvestigationStatus.SUBMITTED,
        db_index=True,
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the request still names its author if the account is deleted.
    filed_by_email = models.EmailField()

    case_number = models.CharField(max_length=64)
    justification = models.TextField()
    occurred_at = models.DateTimeField(help_text="When the gunfire happened (UTC).")
    tolerance_s = models.PositiveIntegerField(help_text="± seconds around occurred_at.")
    latitude = models.FloatField()
    longitude = models.FloatField()
    address = models.CharField(max_length=200, blank=True)
    radius_m = models.FloatField(help_text="How far from the point it may have happened.")
    related_incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="investigation_requests",
    )

    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The last search of the stored pulses (counts, per-sensor pulses, located shots).
    search_result = models.JSONField(default=dict, blank=True)
    # A shot the reviewer located from those pulses (None until proposed).
    located_latitude = models.FloatField(null=True, blank=True)
    located_longitude = models.FloatField(null=True, blank=True)
    located_at = models.DateTimeField(null=True, blank=True, help_text="Emission time.")
    located_n_sensors = models.PositiveIntegerField(null=True, blank=True)
    located_ellipse_major_m = models.FloatField(null=True, blank=True)
    findings = models.TextField(blank=True, help_text="The reviewer's result, on completion.")
    decline_reason = models.TextField(blank=True)
    cancel_reason = models.TextField(blank=True, help_text="The agency's, when it cancelled.")

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "number"], name="unique_investigation_number")
        ]

    def __str__(self) -> str:
        return f"Investigation {self.reference}"

    @property
    def reference(self) -> str:
        return f"INV-{self.agency.system_id}-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def has_located_shot(self) -> bool:
        return self.located_latitude is not None and self.located_at is not None

    def audio_point(self) -> tuple[float, float]:
        """Where sensor distances are measured from: the located shot, else the place."""
        if self.has_located_shot:
            return self.located_latitude, self.located_longitude
        return self.latitude, self.longitude


class InvestigationClip(models.Model):
    """Audio a sensor uploaded against an investigation's audio request."""

    investigation = models.ForeignKey(
        InvestigationRequest, on_delete=models.PROTECT, related_name="clips"
    )
    sensor = models.ForeignKey("sensors.Sensor", on_delete=models.PROTECT, related_name="+")
    request = models.OneToOneField(
        "incidents.AudioRequest", on_delete=models.PROTECT, related_name="investigation_clip"
    )
    start_time = models.DateTimeField(help_text="UTC time of the first sample (µs).")
    sample_rate = models.PositiveIntegerField()
    n_samples = models.PositiveIntegerField()
    duration_s = models.FloatField()
    sha256 = models.CharField(max_length=64, help_text="Of the file exactly as uploaded.")
    size_bytes = models.PositiveIntegerField()
    distance_m = models.FloatField(help_text="Sensor to the audio point when requested.")
    file = models.FileField(upload_to=evidence_path, max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["distance_m", "id"]

    def __str__(self) -> str:
        return f"clip {self.pk} of investigation {self.investigation_id}"
