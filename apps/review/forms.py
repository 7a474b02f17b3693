"""Validation of review input, shared by the services (which always validate) and the UI.

The services build these forms from their keyword arguments and raise
``django.core.exceptions.ValidationError(form.errors)`` when invalid, so a view may
either validate first with the same form (to re-render it) or catch the error.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.review.models import Decision, Flag, NotGunfireReason

MAX_ROUNDS = 500
MAX_TEXT = 2000


class _LocationMixin:
    def _clean_location(self, cleaned: dict, *, note_required: bool) -> None:
        lat, lon = cleaned.get("latitude"), cleaned.get("longitude")
        if (lat is None) != (lon is None):
            raise ValidationError(
                {"latitude": "Give both latitude and longitude to move the location."}
            )
        if lat is not None and note_required and not (cleaned.get("location_note") or ""):
            raise ValidationError({"location_note": "Say why the location moved."})


class DecisionForm(_LocationMixin, forms.Form):
    """A reviewer's decision on an incident in review."""

    decision = forms.ChoiceField(choices=Decision.choices)
    not_gunfire_reason = forms.ChoiceField(
        choices=[("", "---------"), *NotGunfireReason.choices], required=False
    )
    rounds = forms.IntegerField(min_value=1, max_value=MAX_ROUNDS)
    flags = forms.MultipleChoiceField(choices=Flag.choices, required=False)
    latitude = forms.FloatField(min_value=-90, max_value=90, required=False)
    longitude = forms.FloatField(min_value=-180, max_value=180, required=False)
    location_note = forms.CharField(max_length=300, required=False, strip=True)
    comment = forms.CharField(max_length=MAX_TEXT, required=False, strip=True)

    def clean(self):
        cleaned = super().clean()
        decision = cleaned.get("decision")
        reason = cleaned.get("not_gunfire_reason") or ""
        if decision == Decision.NOT_GUNFIRE and not reason:
            raise ValidationError(
                {
                    "not_gunfire_reason": "Say what it was: firework, firecracker, backfire, "
                    "construction or other."
                }
            )
        if decision and decision != Decision.NOT_GUNFIRE and reason:
            raise ValidationError(
                {"not_gunfire_reason": "A reason is only given for 'Not gunfire'."}
            )
        rounds = cleaned.get("rounds")
        if decision == Decision.SINGLE_GUNSHOT and rounds not in (None, 1):
            raise ValidationError({"rounds": "A single gunshot has one round."})
        if decision == Decision.MULTIPLE_GUNSHOTS and rounds is not None and rounds < 2:
            raise ValidationError({"rounds": "Multiple gunshots need at least two rounds."})
        if decision == Decision.NOT_GUNFIRE and cleaned.get("flags"):
            raise ValidationError({"flags": "Flags describe gunfire only."})
        self._clean_location(cleaned, note_required=False)
        return cleaned


class ReclassifyForm(DecisionForm):
    """A new classification of a decided incident: the reason is mandatory."""

    reason = forms.CharField(
        max_length=MAX_TEXT,
        strip=True,
        error_messages={"required": "A reclassification needs a reason."},
    )


class CommentForm(forms.Form):
    text = forms.CharField(
        max_length=MAX_TEXT,
        strip=True,
        error_messages={"required": "A comment cannot be empty."},
    )


class MoveLocationForm(_LocationMixin, forms.Form):
    latitude = forms.FloatField(min_value=-90, max_value=90)
    longitude = forms.FloatField(min_value=-180, max_value=180)
    location_note = forms.CharField(
        max_length=300, strip=True, error_messages={"required": "Say why the location moved."}
    )

    def clean(self):
        cleaned = super().clean()
        self._clean_location(cleaned, note_required=True)
        return cleaned


class PromoteForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_TEXT,
        strip=True,
        error_messages={"required": "Say why this filtered incident needs review."},
    )


class SurgeForm(forms.Form):
    on = forms.BooleanField(required=False)
    threshold = forms.FloatField(min_value=0.0, max_value=1.0, required=False)


def validated(form: forms.Form) -> dict:
    """The cleaned data, or ``ValidationError`` with the form's errors (nothing written)."""
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())
    return form.cleaned_data
