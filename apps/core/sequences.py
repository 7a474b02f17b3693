"""Per-agency numbering (incidents, investigation requests) that is safe under concurrency."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F


def next_number(*, sequence_model, agency) -> int:
    """The agency's next number from ``sequence_model`` (an ``agency`` key, ``last_number``).

    The counter row is updated in place (``last_number + 1``), which row-locks it until the
    caller's transaction ends, so concurrent callers get consecutive numbers and a
    rolled-back record gives its number back.
    """
    rows = sequence_model.objects.filter(agency=agency)
    with transaction.atomic():
        if not rows.update(last_number=F("last_number") + 1):
            # The agency's first: create the row (a concurrent creator makes this fail;
            # then the update works on the second try).
            try:
                with transaction.atomic():
                    sequence_model.objects.create(agency=agency, last_number=1)
                    return 1
            except IntegrityError:
                rows.update(last_number=F("last_number") + 1)
        return rows.get().last_number
