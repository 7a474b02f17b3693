"""The agency super user's audit trail export (CSV), itself audited.

Same filters as the audit log page (``/agency/audit/``): action, actor (part of a user's
e-mail or of an API token's name), dates in the agency's time zone. Only the user's own
agency's events are read (the selector filters on it), so another agency's events (or
tokens) can never be in the file. Bad filters are a 400 problem+json naming each one.
The actor column names who did it as the page does (``apps.audit.labels.actor_label``).
"""

from __future__ import annotations

import csv

from django.db.models import Max
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.management_forms import AuditFilterForm
from apps.accounts.management_views import agency_super_user_required
from apps.audit.selectors import agency_event_actions, agency_events
from apps.audit.services import record_event
from apps.core.problems import invalid_params_response
from apps.privacy.selectors import audit_csv_rows


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


@require_GET
@agency_super_user_required
def audit_csv(request: HttpRequest) -> HttpResponse:
    agency = request.user.agency
    form = AuditFilterForm(request.GET, actions=agency_event_actions(agency=agency))
    if not form.is_valid():
        return invalid_params_response(form=form, title="Invalid filters")
    filters = {
        "action": form.cleaned_data["action"] or "",
        "actor": form.cleaned_data["actor"] or "",
        "date_from": form.cleaned_data["date_from"],
        "date_to": form.cleaned_data["date_to"],
    }
    events = agency_events(
        agency=agency,
        action=filters["action"],
        actor=filters["actor"],
        date_from=filters["date_from"],
        date_to=filters["date_to"],
    )
    # The file is what existed when it was asked for (not this export's own event).
    last_id = events.aggregate(last=Max("id"))["last"] or 0
    events = events.filter(id__lte=last_id)
    count = events.count()
    record_event(
        action="export.audit_csv",
        actor=request.user,
        agency=agency,
        request=request,
        details={
            "filters": {key: (str(value) if value else "") for key, value in filters.items()},
            "rows": count,
        },
    )
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in audit_csv_rows(events=events)),
        content_type="text/csv; charset=utf-8",
    )
    name = f"audit-{agency.system_id}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
