from __future__ import annotations

from django import forms

from apps.core.forms import PeriodDateField
from apps.geo.models import Beat, District
from apps.portal.selectors import TYPE_LABELS, SearchQuery


class IncidentSearchForm(forms.Form):
    date_from = PeriodDateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = PeriodDateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    kind = forms.ChoiceField(
        required=False, label="Type", choices=[("", "Any type"), *TYPE_LABELS.items()]
    )
    district = forms.ModelChoiceField(
        required=False, queryset=District.objects.none(), empty_label="Any district"
    )
    beat = forms.ModelChoiceField(
        required=False, queryset=Beat.objects.none(), empty_label="Any beat"
    )
    address = forms.CharField(required=False, max_length=100, label="Address contains")

    def __init__(self, *args, agency, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["district"].queryset = District.objects.filter(agency=agency)
        self.fields["beat"].queryset = Beat.objects.filter(agency=agency)

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def query(self) -> SearchQuery:
        data = self.cleaned_data
        return SearchQuery(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            kind=data.get("kind") or "",
            beat=data.get("beat"),
            district=data.get("district"),
            address=(data.get("address") or "").strip(),
        )
