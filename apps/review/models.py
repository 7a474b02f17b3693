"""The Incident Review Center's own records, kept beside the incidents app's models.

- ``ReviewClaim``: which reviewer holds an incident in review right now (one holder per
  incident, one incident per reviewer). Idle claims are released (``REVIEW_CLAIM_IDLE_SECONDS``).
- ``ReviewDecision``: the human classification of a decided incident. ``initial_*`` fields
  keep the first decision (metrics: time to decision, override of the machine); the
  current fields follow reclassifications.
- ``IncidentHistory``: append-only entries for every classification, reclassification,
  location change, promotion and comment (who, when, before, after, why). The model
  refuses updates and deletes; on PostgreSQL a trigger refuses them too (migration 0002).
- ``SurgeMode``: per coverage area, the fireworks-holiday switch that raises the machine
  threshold for routing to review and orders the queue by multiple-gunshot probability.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class Decision(models.TextChoices):
    SINGLE_GUNSHOT = "single_gunshot", "Single gunshot"
    MULTIPLE_GUNSHOTS = "multiple_gunshots", "Multiple gunshots"
    POSSIBLE_GUNFIRE = "possible_gunfire", "Possible gunfire"
    NOT_GUNFIRE = "not_gunfire", "Not gunfire"


# Decisions that publish an alert to the agency.
GUNFIRE_DECISIONS = (
    Decision.SINGLE_GUNSHOT,
    Decision.MULTIPLE_GUNSHOTS,
    Decision.POSSIBLE_GUNFIRE,
)


class NotGunfireReason(models.TextChoices):
    FIREWORK = "firework", "Firework"
    FIRECRACKER = "firecracker", "Firecracker"
    BACKFIRE = "backfire", "Backfire"
    CONSTRUCTION = "construction", "Construction"
    OTHER = "other", "Other"


class Flag(models.TextChoices):
    FULLY_AUTOMATIC = "fully_automatic", "Fully automatic"
    HIGH_CAPACITY = "high_capacity", "High capacity"
    MULTIPLE_SHOOTERS = "multiple_shooters", "Multiple shooters"


class ReviewClaim(models.Model):
    """A reviewer holding an incident in review (nobody else may decide it meanwhile)."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="review_claim"
    )
    reviewer = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_claim"
    )
    claimed_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["claimed_at", "id"]

    def __str__(self) -> str:
        return f"incident {self.incident_id} held by {self.reviewer_id}"


class ReviewDecision(models.Model):
    """The human classification of an incident (current, plus the first decision)."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="review_decision"
    )
    decision = models.CharField(max_length=20, choices=Decision.choices)
    not_gunfire_reason = models.CharField(
        max_length=20, choices=NotGunfireReason.choices, blank=True
    )
    rounds = models.PositiveIntegerField(default=1)
    fully_automatic = models.BooleanField(default=False)
    high_capacity = models.BooleanField(default=False)
    multiple_shooters = models.BooleanField(default=False)
    location_note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    # The first decision, never changed afterwards.
    initial_decision = models.CharField(max_length=20, choices=Decision.choices)
    initial_not_gunfire_reason = models.CharField(
        max_length=20, choices=NotGunfireReason.choices, blank=True
    )
    decided_at = models.DateTimeField(default=timezone.now, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    detected_at = models.DateTimeField(help_text="The incident's detection time (copied).")
    seconds_to_decision = models.FloatField(help_text="decided_at - detected_at.")
    machine_class = models.CharField(max_length=32, blank=True, help_text="At decision time.")
    machine_probabilities = models.JSONField(default=dict, blank=True)
    model_version = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="not_gunfire_needs_reason",
                condition=(models.Q(decision="not_gunfire") & ~models.Q(not_gunfire_reason=""))
                | (~models.Q(decision="not_gunfire") & models.Q(not_gunfire_reason="")),
            )
        ]

    def __str__(self) -> str:
        return f"incident {self.incident_id}: {self.decision}"

    @property
    def is_gunfire(self) -> bool:
        return self.decision in GUNFIRE_DECISIONS

    @property
    def type_label(self) -> str:
        return Decision(self.decision).label

    @property
    def flags(self) -> list[str]:
        return [f.value for f in Flag if getattr(self, f.value)]


class HistoryKind(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    RECLASSIFICATION = "reclassification", "Reclassification"
    LOCATION_MOVED = "location_moved", "Location moved"
    COMMENT = "comment", "Comment"
    PROMOTED = "promoted", "Promoted to review"


class HistoryImmutableError(Exception):
    pass


class IncidentHistoryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise HistoryImmutableError("Incident history entries cannot be changed.")

    def delete(self):
        raise HistoryImmutableError("Incident history entries cannot be deleted.")


class IncidentHistory(models.Model):
    """One immutable entry: a classification, reclassification, move, promotion or comment."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="history", editable=False
    )
    kind = models.CharField(max_length=20, choices=HistoryKind.choices, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    # Kept as text so the entry still says who after the account is deleted.
    actor_name = models.CharField(max_length=254, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    before = models.JSONField(default=dict, blank=True, editable=False)
    after = models.JSONField(default=dict, blank=True, editable=False)
    reason = models.TextField(blank=True, editable=False, help_text="Why, or the comment.")

    objects = IncidentHistoryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "incident history"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.kind} of incident {self.incident_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise HistoryImmutableError("Incident history entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise HistoryImmutableError("Incident history entries cannot be deleted.")


class SurgeMode(models.Model):
    """Surge mode of one coverage area (fireworks holidays)."""

    coverage_area = models.OneToOneField(
        "geo.CoverageArea", on_delete=models.CASCADE, related_name="surge_mode"
    )
    on = models.BooleanField(default=False)
    threshold = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="While on: minimum machine gunfire probability for routing to review.",
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="surge_threshold_is_a_probability",
                condition=models.Q(threshold__gte=0.0, threshold__lte=1.0),
            )
        ]

    def __str__(self) -> str:
        return f"surge {'on' if self.on else 'off'} in area {self.coverage_area_id}"
