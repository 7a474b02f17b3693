"""Agency-scoped API tokens for dispatch and CAD systems (the integration read API).

Only a SHA-256 hash of a token is stored; the token itself is shown once, when created.
A token reads its agency's published incidents and nothing else.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'CAD east'.")
    prefix = models.CharField(
        max_length=16, unique=True, help_text="Public part of the token, for lookup."
    )
    secret_hash = models.CharField(max_length=64, help_text="SHA-256 (hex) of the whole token.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["agency", "name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
