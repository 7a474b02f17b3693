from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.alerts.models import EVENT_TYPES, IncidentType
from apps.alerts.services import format_time_windows, parse_time_windows
from apps.geo.models import Beat, District

EVENT_CHOICES = [(value, value) for value in EVENT_TYPES.values()]


class AlertPreferencesForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Send me incident alerts by e-mail")
    beats = forms.ModelMultipleChoiceField(
        queryset=Beat.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked (and no district): the whole agency.",
    )
    districts = forms.ModelMultipleChoiceField(
        queryset=District.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="An incident matches if it is in one of the beats OR one of the districts.",
    )
    time_windows = forms.CharField(
        required=False,
        label="Only at these times",
        help_text="Your agency's local time, e.g. 22:00-06:00 (nights) or "
        "07:00-15:00, 19:00-24:00 (24:00: until midnight). Empty: any time.",
    )
    incident_types = forms.MultipleChoiceField(
        choices=IncidentType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type.",
    )
    send_updates = forms.BooleanField(
        required=False, label="Also e-mail updates and cancellations of alerts I received"
    )

    def __init__(self, *args, agency, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["beats"].queryset = Beat.objects.filter(agency=agency).order_by("name")
        self.fields["districts"].queryset = District.objects.filter(agency=agency).order_by("name")

    def clean_time_windows(self):
        return parse_time_windows(self.cleaned_data.get("time_windows", ""))

    @staticmethod
    def initial_from(subscription) -> dict:
        if subscription is None:
            return {"enabled": True, "send_updates": True}
        return {
            "enabled": subscription.enabled,
            "beats": list(subscription.beats.all()),
            "districts": list(subscription.districts.all()),
            "time_windows": format_time_windows(subscription.time_windows),
            "incident_types": subscription.incident_types,
            "send_updates": subscription.send_updates,
        }


class WebhookEndpointForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(max_length=500, label="URL")
    event_types = forms.MultipleChoiceField(
        choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple, label="Events"
    )
    active = forms.BooleanField(required=False, initial=True)


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)
