"""Forms of the agency user management pages and the audit log filter.

Choices are limited to what an agency super user may pick; services check the same
rules again because a form can be forged.
"""

from __future__ import annotations

from django import forms

from apps.accounts.models import AGENCY_ROLES, Application, User
from apps.audit.labels import action_label
from apps.core.forms import PeriodDateField

AGENCY_ROLE_CHOICES = [(role.value, role.label) for role in AGENCY_ROLES]


class ApplicationsField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("choices", Application.choices)
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Applications")
        super().__init__(**kwargs)


class AgencyUserCreateForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
    full_name = forms.CharField(label="Full name", max_length=200, required=False)
    role = forms.ChoiceField(choices=AGENCY_ROLE_CHOICES, initial=AGENCY_ROLES[0].value)
    applications = ApplicationsField()
    send_invitation = forms.BooleanField(
        label="E-mail a link to choose a password", required=False, initial=True
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail address already exists.")
        return email


class AgencyUserEditForm(forms.Form):
    full_name = forms.CharField(label="Full name", max_length=200, required=False)
    role = forms.ChoiceField(choices=AGENCY_ROLE_CHOICES)


class ApplicationAccessForm(forms.Form):
    applications = ApplicationsField()


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    actor = forms.CharField(
        label="Actor contains",
        max_length=254,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e-mail or API token name"}),
    )
    date_from = PeriodDateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = PeriodDateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        # People read the label; the code is what is filtered on (and in the CSV).
        self.fields["action"].choices = [("", "Any action")] + sorted(
            ((a, action_label(a)) for a in actions), key=lambda choice: choice[1].lower()
        )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The start date must not be after the end date.")
        return cleaned
