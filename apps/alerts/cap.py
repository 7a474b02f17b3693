"""OASIS CAP 1.2 documents for alert messages (Alert, Update, Cancel).

Each ``AlertMessage`` gets one CAP document when it is made, stored with it, never
rebuilt: an Update or Cancel lists every earlier message of the incident in
``references`` ("sender,identifier,sent" triples, space-separated, as CAP 1.2 §3.2.1
prescribes). ``validate_cap`` checks a document against the vendored OASIS schema
(``apps/alerts/schema``).
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from pathlib import Path
from xml.etree import ElementTree as ET

from django.conf import settings

from apps.alerts.accuracy import within_text
from apps.alerts.models import IncidentType, MessageKind

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "CAP-v1.2-schema.xsd"
MSG_TYPES = {
    MessageKind.PUBLISH: "Alert",
    MessageKind.UPDATE: "Update",
    MessageKind.CANCEL: "Cancel",
}
CERTAINTY = {
    IncidentType.SINGLE_GUNSHOT: "Observed",
    IncidentType.MULTIPLE_GUNSHOTS: "Observed",
    IncidentType.POSSIBLE_GUNFIRE: "Possible",
}
CHANGE_TEXT = {
    "comment": "New information from the review center.",
    "reclassified": "The incident was reclassified.",
    "location_moved": "The incident location was moved.",
}


def cap_sender() -> str:
    return settings.ALERTS_CAP_SENDER


def cap_identifier(*, system_id: str, number: int, sequence: int) -> str:
    return f"urn:shotspotter-open:{system_id}:{number}:{sequence}"


def cap_time(value: dt.datetime, time_zone: str) -> str:
    """CAP's dateTime: local time with a numeric offset, no fraction, never "Z"."""
    local = value.astimezone(zoneinfo.ZoneInfo(time_zone)).replace(microsecond=0)
    text = local.isoformat()
    return text[:-6] + "+00:00" if text.endswith("Z") else text


def build_cap(
    *,
    identifier: str,
    kind: str,
    change: str,
    sent_at: dt.datetime,
    facts: dict,
    references: list[tuple[str, str, str]],
    agency_name: str,
) -> str:
    zone = facts["time_zone"]
    ET.register_namespace("", CAP_NS)

    def sub(parent, tag, text=None):
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        if text is not None:
            element.text = str(text)
        return element

    alert = ET.Element(f"{{{CAP_NS}}}alert")
    sub(alert, "identifier", identifier)
    sub(alert, "sender", cap_sender())
    sub(alert, "sent", cap_time(sent_at, "UTC"))  # references quote it: zone-independent
    sub(alert, "status", "Actual")
    sub(alert, "msgType", MSG_TYPES[kind])
    sub(alert, "source", "ShotSpotter Open Incident Review Center")
    sub(alert, "scope", "Restricted")
    sub(alert, "restriction", f"Law enforcement use: {agency_name}")
    reason = facts.get("review_reason")
    if kind == MessageKind.UPDATE and change:
        note = CHANGE_TEXT.get(change, change)
        if change == "reclassified":
            note = f"The incident was reclassified as {facts['type_label']}."
        sub(alert, "note", note + (f" Reason: {reason}" if reason else ""))
    elif kind == MessageKind.CANCEL:
        sub(
            alert,
            "note",
            f"Alert withdrawn: the review center reviewed it as {_withdrawn_as(facts)}."
            + (f" Reason: {reason}" if reason else ""),
        )
    if references:
        sub(alert, "references", " ".join(",".join(triple) for triple in references))
    sub(alert, "incidents", facts["reference"])

    info = sub(alert, "info")
    sub(info, "language", "en-US")
    sub(info, "category", "Security")
    sub(info, "event", "Gunfire")
    cancelled = kind == MessageKind.CANCEL
    sub(info, "responseType", "AllClear" if cancelled else "Assess")
    sub(info, "urgency", "Past" if cancelled else "Immediate")
    sub(info, "severity", "Unknown" if cancelled else "Severe")
    sub(info, "certainty", "Unlikely" if cancelled else CERTAINTY.get(facts["type"], "Unlikely"))
    sub(info, "eventCode")
    code = info[-1]
    sub(code, "valueName", "ShotSpotterIncidentType")
    sub(code, "value", facts["type"])
    first_shot = dt.datetime.fromisoformat(facts["first_shot_at"].replace("Z", "+00:00"))
    sub(info, "onset", cap_time(first_shot, zone))
    sub(info, "senderName", agency_name)
    sub(info, "headline", ("CANCELLED: " if cancelled else "") + facts["headline"])
    sub(info, "description", _description(facts, cancelled=cancelled))
    sub(info, "web", facts["url"])
    for name in ("rounds", "fully_automatic", "multiple_shooters", "nearest_address", "beat"):
        value = facts[name]
        if value in ("", None):
            continue
        parameter = sub(info, "parameter")
        sub(parameter, "valueName", name)
        sub(parameter, "value", str(value).lower() if isinstance(value, bool) else value)
    area = sub(info, "area")
    sub(area, "areaDesc", facts["where"] + (f", {facts['district']}" if facts["district"] else ""))
    radius_km = max(facts["ellipse_95"]["semi_major_m"], 10.0) / 1000.0
    sub(area, "circle", f"{facts['latitude']:.6f},{facts['longitude']:.6f} {radius_km:.3f}")
    return ET.tostring(alert, encoding="unicode", xml_declaration=False).join(
        ('<?xml version="1.0" encoding="UTF-8"?>\n', "\n")
    )


def _within(facts: dict) -> str:
    """The 95% radius as officers read it; facts made before ``within_m`` existed fall back
    to the rounded semi-major axis."""
    ellipse = facts["ellipse_95"]
    shown = ellipse.get("within_m")
    return within_text(shown if shown is not None else ellipse["semi_major_m"])


def _withdrawn_as(facts: dict) -> str:
    """ "not gunfire (firework)": the new classification of a withdrawn alert."""
    return facts["type_label"].lower() if facts["type"] == "not_gunfire" else "not gunfire"


def _description(facts: dict, *, cancelled: bool) -> str:
    lines = []
    if cancelled:
        lines.append(
            f"CANCELLED: this alert was withdrawn by the review center ({_withdrawn_as(facts)})."
        )
        if facts.get("review_reason"):
            lines.append(f"Reason: {facts['review_reason']}")
    lines += [
        f"{facts['headline']} at {facts['where']}.",
        f"First shot {facts['local_time']} ({facts['time_zone']}).",
        f"Position {facts['latitude']:.6f}, {facts['longitude']:.6f} "
        f"(95% within {_within(facts)}).",
        f"Incident {facts['reference']}.",
    ]
    return " ".join(lines)


@functools.lru_cache(maxsize=1)
def _schema():
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA_PATH))


def validate_cap(document: str) -> None:
    """Raise ``xmlschema.XMLSchemaValidationError`` unless the document is valid CAP 1.2."""
    _schema().validate(document)


def cap_errors(document: str) -> list[str]:
    return [str(error.reason or error) for error in _schema().iter_errors(document)]
