"""Form fields shared by several apps."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError

# Whole-day periods are built from a date as [its local midnight, the next day's local
# midnight) in the agency's zone: both must exist as datetimes in every zone, and 9999-12-31
# has no next day (OverflowError, a 500 before this field).
FIRST_PERIOD_DATE = dt.date(1900, 1, 1)
LAST_PERIOD_DATE = dt.date(9998, 12, 31)


class PeriodDateField(forms.DateField):
    """A ``DateField`` whose day can bound a period: 1900-01-01 to 9998-12-31."""

    default_error_messages = {
        "out_of_range": (
            f"Choose a date from {FIRST_PERIOD_DATE.isoformat()} to {LAST_PERIOD_DATE.isoformat()}."
        ),
    }

    def validate(self, value) -> None:
        super().validate(value)
        if value is not None and not FIRST_PERIOD_DATE <= value <= LAST_PERIOD_DATE:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range")
