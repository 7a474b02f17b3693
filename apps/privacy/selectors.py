"""Reads of the privacy app: the audit trail as exported rows."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.db.models import QuerySet

from apps.audit.labels import actor_label
from apps.audit.models import AuditEvent

# Times are ISO-8601 in UTC with their offset (a spreadsheet or script sorts and converts
# them without guessing a zone); ``details`` is the JSON as recorded (a token's ``since``
# exactly as it sent it). The page shows both in the agency's zone. ``actor`` (who did it,
# worded as on the page) comes last so that scripts reading the columns by position still
# find them where they were; ``actor_email`` stays the user's e-mail, empty otherwise.
AUDIT_CSV_COLUMNS = (
    "occurred_at_utc",
    "actor_email",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "ip_address",
    "user_agent",
    "details",
    "actor",
)


def csv_safe(value) -> str:
    """Spreadsheet formula injection: text starting with = + - @ tab or CR is quoted."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def audit_csv_rows(*, events: QuerySet[AuditEvent]) -> Iterator[list[str]]:
    """The rows of an audit export (header first), oldest event last as on the page."""
    yield list(AUDIT_CSV_COLUMNS)
    for event in events.iterator(chunk_size=2000):
        yield [
            csv_safe(value)
            for value in (
                event.occurred_at.isoformat(),
                event.actor_email,
                event.action,
                event.target_type,
                event.target_id,
                event.target_label,
                event.ip_address or "",
                event.user_agent,
                json.dumps(event.details, sort_keys=True, default=str),
                actor_label(actor_email=event.actor_email, details=event.details),
            )
        ]
