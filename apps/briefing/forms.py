from __future__ import annotations

import datetime as dt

from django import forms

from apps.alerts.models import IncidentType
from apps.core.forms import PeriodDateField
from apps.geo.models import Beat, District

DEFAULT_DAYS = 28
MAX_DAYS = 3 * 366


class BriefingFilterForm(forms.Form):
    start = PeriodDateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = PeriodDateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    types = forms.MultipleChoiceField(
        choices=IncidentType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Types",
        help_text="None ticked: every type.",
    )
    district = forms.ModelChoiceField(
        queryset=District.objects.none(), required=False, empty_label="All districts"
    )
    beat = forms.ModelChoiceField(
        queryset=Beat.objects.none(), required=False, empty_label="All beats"
    )

    def __init__(self, *args, agency, today: dt.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.fields["district"].queryset = District.objects.filter(agency=agency)
        self.fields["beat"].queryset = Beat.objects.filter(agency=agency)

    def clean(self):
        data = super().clean()
        end = data.get("end") or self.today
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The period must start on or before its end.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose a period of at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data
