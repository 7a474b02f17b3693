"""What an audit action code means, in words, for the agency's audit log.

The codes (``agency_user.applications_change``) stay what is stored, filtered on and
exported; people read the label. A code without a label here (a new one, or
``platform_admin.<model>.<verb>``) is spelled out from its parts, never left blank.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils.dateparse import parse_datetime

ACTION_LABELS = {
    "account.locked": "Account locked (too many failed sign-ins)",
    "account.unlocked": "Account unlocked",
    "agency_user.create": "User added",
    "agency_user.update": "User changed",
    "agency_user.deactivate": "User deactivated",
    "agency_user.reactivate": "User reactivated",
    "agency_user.delete": "User deleted",
    "agency_user.applications_change": "User's applications changed",
    "alerts.destination_reset": "Alert e-mail address marked working again",
    "alerts.webhook_created": "Dispatch webhook added",
    "alerts.webhook_updated": "Dispatch webhook changed",
    "alerts.webhook_deleted": "Dispatch webhook deleted",
    "alerts.webhook_secret_rotated": "Dispatch webhook secret replaced",
    "alerts.webhook_test_sent": "Dispatch webhook test delivery sent",
    "audio.playback": "Audio played",
    "audio.integrity_failed": "Audio integrity check failed",
    "auth.login": "Signed in",
    "auth.login_failed": "Sign-in failed",
    "auth.logout": "Signed out",
    "auth.ip_locked": "Sign-ins from an address blocked",
    "auth.password_changed": "Password changed",
    "auth.password_reset": "Password set from a reset link",
    "auth.password_reset_requested": "Password reset e-mail sent",
    "auth.password_reset_throttled": "Password reset refused (too many requests)",
    "auth.two_factor_verified": "Two-factor code accepted",
    "auth.two_factor_failed": "Two-factor code refused",
    "demo.seeded": "Demo data loaded",
    "export.audit_csv": "Audit log exported (CSV)",
    "export.csv": "Incidents exported (CSV)",
    "export.geojson": "Incidents exported (GeoJSON)",
    "incident.audio_stored": "Incident audio stored",
    "integrations.api_token_created": "API token created",
    "integrations.api_token_revoked": "API token revoked",
    "integrations.incidents_listed": "Dispatch API: incidents listed",
    "integrations.incident_read": "Dispatch API: incident read",
    "integrations.cap_feed_read": "Dispatch system read the CAP feed",
    "integrations.cap_document_read": "Dispatch system read a CAP document",
    "investigation.filed": "Investigation request filed",
    "investigation.viewed": "Investigation request viewed",
    "investigation.searched": "Investigation: stored pulses searched",
    "investigation.located": "Investigation: shot located",
    "investigation.audio_requested": "Investigation: audio requested",
    "investigation.audio_stored": "Investigation: audio stored",
    "investigation.audio_purged": "Investigation: audio purged",
    "investigation.completed": "Investigation request completed",
    "investigation.declined": "Investigation request declined",
    "investigation.cancelled": "Investigation request cancelled",
    "investigation.notified": "Investigation outcome e-mailed",
    "report.generated": "Incident report generated",
    "retention.purge": "Retention purge",
    "review.decided": "Incident reviewed",
    "review.reclassified": "Incident reclassified",
    "review.commented": "Review comment added",
    "review.location_moved": "Incident location moved",
    "review.promoted": "Filtered incident sent to review",
    "review.surge_on": "Surge mode switched on",
    "review.surge_off": "Surge mode switched off",
    "sensor.registered": "Sensor registered",
    "sensor.status_changed": "Sensor status changed",
    "sensor.key_rotated": "Sensor key replaced",
    "two_factor.device_added": "Two-factor device added",
    "two_factor.device_removed": "Two-factor device removed",
    "two_factor.backup_codes_generated": "Two-factor backup codes made",
    "two_factor.reset": "Two-factor reset",
}

# Reads by a dispatch system's API token (``apps.integrations.services.integration_read_record``).
TOKEN_READ_ACTIONS = frozenset(
    {
        "integrations.incidents_listed",
        "integrations.incident_read",
        "integrations.cap_feed_read",
        "integrations.cap_document_read",
    }
)
REFERENCES_SHOWN = 10
# Query parameters of a token read that are times; shown in the agency's zone.
TIME_PARAMETERS = frozenset({"since"})

_VERBS = {"create": "added", "change": "changed", "delete": "deleted"}


def action_label(code: str) -> str:
    """ "agency_user.applications_change" -> "User's applications changed"."""
    if code in ACTION_LABELS:
        return ACTION_LABELS[code]
    parts = code.split(".")
    if len(parts) == 3 and parts[0] == "platform_admin":
        verb = _VERBS.get(parts[2], parts[2].replace("_", " "))
        return f"Platform administrator: {parts[1].replace('_', ' ')} {verb}"
    words = " ".join(part.replace("_", " ") for part in parts if part)
    return words[:1].upper() + words[1:] if words else code


def actor_label(*, actor_email: str, details) -> str:
    """Who did it: the user's e-mail, a dispatch system's API token, or "system".

    The one wording of the actor, for the audit page and its CSV export alike."""
    if actor_email:
        return actor_email
    token = details.get("api_token") if isinstance(details, dict) else None
    if isinstance(token, dict) and token.get("prefix"):
        return f"API token {token.get('name', '')} ({token['prefix']}…)"
    return "system"


def local_time(text, *, zone: zoneinfo.ZoneInfo) -> str:
    """An ISO-8601 time as the audit page shows times: "2026-11-21 19:00:05 CST" in
    ``zone`` (a time without offset is UTC, as the API reads it); other text, and a time
    the zone cannot hold (year 1 or 9999 moved past the calendar's end), unchanged."""
    try:
        moment = parse_datetime(str(text))
        if moment is None:
            return str(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    except (ValueError, OverflowError):
        return str(text)


def token_read_summary(*, action: str, details, time_format=None) -> str:
    """One line for a dispatch system's read: "GET /api/v1/incidents/?status=cancelled:
    2 incidents (312-7, 312-9). Also 359 identical requests with the same answer, 10:00:10
    to 10:59:50, not listed separately." ``time_format`` turns an ISO time into text; it
    is used for the repeats and for ``since`` (the details keep the value as sent)."""
    if action not in TOKEN_READ_ACTIONS or not isinstance(details, dict):
        return ""
    fmt = time_format or (lambda text: text)
    query = details.get("query") or {}
    shown_query = "&".join(
        f"{name}={fmt(value) if name in TIME_PARAMETERS else value}"
        for name, value in query.items()
    )
    line = f"GET {details.get('endpoint', '')}{'?' + shown_query if shown_query else ''}: "
    references = details.get("references") or []
    count = details.get("incidents", len(references))
    if action == "integrations.cap_feed_read":
        line += f"{details.get('cap_messages', 0)} CAP messages of {count} incidents"
    elif action == "integrations.cap_document_read":
        line += f"CAP message {details.get('cap_identifier', '')}"
    else:
        line += f"{count} incident{'' if count == 1 else 's'}"
    if references:
        shown = ", ".join(references[:REFERENCES_SHOWN])
        more = len(references) - REFERENCES_SHOWN
        line += f" ({shown}{f' and {more} more' if more > 0 else ''})"
    line += "."
    repeats = details.get("repeats")
    if isinstance(repeats, dict) and repeats.get("count"):
        n = repeats["count"]
        when = ""
        if repeats.get("first") and repeats.get("last"):
            when = f", {fmt(repeats['first'])} to {fmt(repeats['last'])}"
        line += (
            f" Before it: {n} identical request{'' if n == 1 else 's'} with the same answer"
            f" as the previous entry{when}, not listed separately."
        )
    return line
