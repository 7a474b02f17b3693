"""Input of investigation pages. The services check every rule again; the forms parse."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import forms

from apps.investigations.models import (
    INVESTIGATION_AUDIO_MAX_WINDOW_S,
    JUSTIFICATION_MIN_CHARS,
    RADIUS_MAX_M,
    RADIUS_MIN_M,
    TOLERANCE_MAX_S,
)


class FileForm(forms.Form):
    case_number = forms.CharField(max_length=64, label="Case number")
    occurred_at = forms.DateTimeField(
        label="When (agency local time)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        input_formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    tolerance_s = forms.IntegerField(
        label="± tolerance (seconds)", min_value=1, max_value=TOLERANCE_MAX_S, initial=300
    )
    address = forms.CharField(
        max_length=200, required=False, label="Address (one of the agency's, exact)"
    )
    latitude = forms.FloatField(required=False, min_value=-90, max_value=90)
    longitude = forms.FloatField(required=False, min_value=-180, max_value=180)
    radius_m = forms.FloatField(
        label="Radius (m)", min_value=RADIUS_MIN_M, max_value=RADIUS_MAX_M, initial=200
    )
    related_incident = forms.IntegerField(
        required=False, min_value=1, label="Related incident number (optional)"
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        min_length=JUSTIFICATION_MIN_CHARS,
        max_length=4000,
        help_text=(
            "Why this is a specific, verified gunfire incident: witnesses, casings, "
            "victims, the report that verified it."
        ),
    )

    def __init__(self, *args, time_zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = zoneinfo.ZoneInfo(time_zone)

    def clean_occurred_at(self):
        value = self.cleaned_data["occurred_at"]
        # Entered as the agency's wall-clock time, whatever the server's zone.
        return value.replace(tzinfo=None).replace(tzinfo=self.time_zone)


class AudioForm(forms.Form):
    sensors = forms.TypedMultipleChoiceField(coerce=int, choices=(), label="Sensors")
    source_start = forms.CharField(
        max_length=40,
        label="Window start at the source (UTC, e.g. 2026-11-21T06:00:01.250Z)",
    )
    duration_s = forms.FloatField(
        min_value=0.001,
        max_value=INVESTIGATION_AUDIO_MAX_WINDOW_S,
        initial=6.0,
        label=f"Length (s, at most {INVESTIGATION_AUDIO_MAX_WINDOW_S:.0f})",
    )

    def __init__(self, *args, sensor_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sensors"].choices = list(sensor_choices)

    def clean_source_start(self):
        text = self.cleaned_data["source_start"].strip()
        refusal = forms.ValidationError("An ISO-8601 UTC time, e.g. 2026-11-21T06:00:01.250Z.")
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            value = value.astimezone(dt.UTC)  # OverflowError for 0001-01-01T00:00+01:00
        except (ValueError, OverflowError):
            raise refusal from None
        if value.year > 9998:  # the window's end (start + duration) must exist too
            raise refusal
        return value


class LocateForm(forms.Form):
    shot = forms.IntegerField(min_value=0)


class CompleteForm(forms.Form):
    findings = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=4000)


class DeclineForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)


class CancelForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        label="Reason (optional, shown on the request)",
    )
