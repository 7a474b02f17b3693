"""The incident report for investigators and courts: a printable page and a PDF.

Both show the same data (``report_data``): the incident, each shot's time, location and
95% ellipse, the sensors of each shot with their distance and residual, the
classification history, the alert messages sent, and the SHA-256 of every audio clip
(chain of custody). Generating either is audited (``report.generated``).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.utils import timezone

from apps.accounts.models import User
from apps.alerts import selectors
from apps.audit.services import record_event
from apps.incidents.models import AudioClip, Incident, ShotPulse


def _local(value: dt.datetime | None, zone) -> str:
    if value is None:
        return ""
    return (
        value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        + " "
        + (value.astimezone(zone).tzname() or "")
    )


def _utc(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + " UTC"


def classification_history(incident: Incident) -> list[dict]:
    """The machine classification, then every review entry (immutable history) in order."""
    zone = zoneinfo.ZoneInfo(incident.agency.time_zone)
    entries = [
        {
            "when": _local(incident.detected_at, zone),
            "kind": "Machine classification",
            "who": f"classifier {incident.model_version}".strip(),
            "what": incident.machine_class or "unclassifiable",
            "detail": ", ".join(
                f"{name} {value:.2f}"
                for name, value in sorted(
                    (incident.class_probabilities or {}).items(), key=lambda item: -item[1]
                )
            ),
        }
    ]
    history = getattr(incident, "history", None)
    if history is not None:
        for item in history.all().order_by("created_at", "pk"):
            entries.append(
                {
                    "when": _local(item.created_at, zone),
                    "kind": item.get_kind_display(),
                    "who": item.actor_name,
                    "what": _describe(item.after) or _describe(item.before),
                    "detail": item.reason,
                }
            )
    return entries


def _describe(values: dict | None) -> str:
    if not values:
        return ""
    return ", ".join(f"{key}: {value}" for key, value in sorted(values.items()))


def report_data(incident: Incident) -> dict:
    zone = zoneinfo.ZoneInfo(incident.agency.time_zone)
    shots = []
    pulses = (
        ShotPulse.objects.filter(shot__incident=incident)
        .select_related("sensor")
        .order_by("shot_id", "distance_m", "pk")
    )
    by_shot: dict[int, list[ShotPulse]] = {}
    for pulse in pulses:
        by_shot.setdefault(pulse.shot_id, []).append(pulse)
    for index, shot in enumerate(incident.shots.order_by("emitted_epoch_s", "pk"), start=1):
        shots.append(
            {
                "n": index,
                "local": _local(shot.emitted_at, zone),
                "utc": _utc(shot.emitted_at),
                "latitude": shot.latitude,
                "longitude": shot.longitude,
                "major": shot.ellipse_major_m,
                "minor": shot.ellipse_minor_m,
                "azimuth": shot.ellipse_azimuth_deg,
                "residual_rms_ms": shot.residual_rms_ms,
                "sensors": [
                    {
                        "serial": p.sensor.serial_number,
                        "distance_m": p.distance_m,
                        "residual_ms": p.residual_ms,
                    }
                    for p in by_shot.get(shot.pk, [])
                ],
            }
        )
    clips = [
        {
            "serial": clip.sensor.serial_number,
            "start": _utc(clip.start_time),
            "duration_s": clip.duration_s,
            "sample_rate": clip.sample_rate,
            "size_bytes": clip.size_bytes,
            "distance_m": clip.distance_m,
            "sha256": clip.sha256,
        }
        for clip in AudioClip.objects.filter(incident=incident).select_related("sensor")
    ]
    return {
        "incident": incident,
        "facts": selectors.incident_facts(incident),
        "first_local": _local(incident.first_shot_at, zone),
        "last_local": _local(incident.last_shot_at, zone),
        "published_local": _local(incident.published_at, zone),
        "shots": shots,
        "clips": clips,
        "history": classification_history(incident),
        "alert_messages": [
            {
                "when": _local(m.sent_at, zone),
                "kind": m.get_kind_display(),
                "identifier": m.identifier,
                "change": m.change,
            }
            for m in incident.alert_messages.order_by("sequence")
        ],
        "generated_local": _local(timezone.now(), zone),
    }


def report_audit(*, incident: Incident, actor: User, fmt: str, request=None) -> None:
    record_event(
        action="report.generated",
        actor=actor,
        agency=incident.agency,
        target=incident,
        target_label=f"Incident {incident.agency.system_id}-{incident.number}",
        request=request,
        details={
            "format": fmt,
            "reference": f"{incident.agency.system_id}-{incident.number}",
            "audio_sha256": [clip.sha256 for clip in incident.audio_clips.all()],
        },
    )


# --- PDF ------------------------------------------------------------------------------------


def _latin1(text) -> str:
    """The PDF core fonts are Latin-1: replace the few typographic characters we use."""
    value = str(text)
    for old, new in (("—", "-"), ("–", "-"), ("…", "..."), ("’", "'"), ("“", '"'), ("”", '"')):
        value = value.replace(old, new)
    return value.encode("latin-1", "replace").decode("latin-1")


def report_pdf(data: dict, *, generated_by: str) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    facts = data["facts"]
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title(_latin1(f"Incident report #{facts['reference']}"))
    pdf.set_author("ShotSpotter Open")
    pdf.set_creator(f"ShotSpotter Open {settings.APP_VERSION}")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def heading(text: str, size: int = 12) -> None:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", size)
        pdf.multi_cell(width, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)

    def line(label: str, value) -> None:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(40, 5, _latin1(label))
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(width - 40, 5, _latin1(value), new_x="LMARGIN", new_y="NEXT")

    def table(headers: list[str], rows: list[list], widths: list[int], size: int = 8) -> None:
        pdf.set_font("Helvetica", "", size)
        with pdf.table(
            col_widths=widths,
            headings_style=FontFace(emphasis="BOLD"),
            line_height=pdf.font_size * 1.6,
            text_align="LEFT",
        ) as grid:
            grid.row([_latin1(h) for h in headers])
            for values in rows:
                grid.row([_latin1(v) for v in values])
        pdf.set_font("Helvetica", "", 9)

    heading(f"Incident report #{facts['reference']} - {facts['agency']}", 15)
    line("Type", facts["headline"])
    line("Status", data["incident"].get_status_display())
    line("First shot", data["first_local"])
    line("Last shot", data["last_local"])
    line("Published", data["published_local"] or "-")
    line("Location", f"{facts['latitude']:.6f}, {facts['longitude']:.6f}")
    ellipse = facts["ellipse_95"]
    line(
        "95% ellipse",
        f"{ellipse['semi_major_m']:.1f} m x {ellipse['semi_minor_m']:.1f} m (semi-axes), "
        f"major axis {ellipse['azimuth_deg']:.1f} deg from north",
    )
    line("Nearest address", facts["nearest_address"] or "-")
    line("Beat / district", f"{facts['beat'] or '-'} / {facts['district'] or '-'}")
    line("Coverage area", facts["coverage_area"])
    line("Secure link", facts["url"])

    heading("Shots")
    table(
        ["#", "Time (local)", "Latitude", "Longitude", "95% ellipse (m)", "Az.", "RMS ms"],
        [
            [
                s["n"],
                s["local"],
                f"{s['latitude']:.6f}",
                f"{s['longitude']:.6f}",
                f"{s['major']:.1f} x {s['minor']:.1f}",
                f"{s['azimuth']:.0f}",
                f"{s['residual_rms_ms']:.2f}",
            ]
            for s in data["shots"]
        ]
        or [["-", "no located shots", "", "", "", "", ""]],
        [8, 52, 24, 24, 32, 12, 18],
    )

    heading("Participating sensors")
    sensor_rows = [
        [s["n"], sensor["serial"], f"{sensor['distance_m']:.1f}", f"{sensor['residual_ms']:+.2f}"]
        for s in data["shots"]
        for sensor in s["sensors"]
    ]
    table(
        ["Shot", "Sensor", "Distance (m)", "Residual (ms)"],
        sensor_rows or [["-", "none", "", ""]],
        [15, 80, 40, 40],
    )

    heading("Classification history")
    table(
        ["When", "Entry", "By", "Classification", "Notes"],
        [[h["when"], h["kind"], h["who"], h["what"], h["detail"]] for h in data["history"]],
        [38, 28, 34, 45, 45],
    )

    if data["alert_messages"]:
        heading("Alert messages (CAP identifiers)")
        table(
            ["When", "Message", "Identifier", "Change"],
            [[m["when"], m["kind"], m["identifier"], m["change"]] for m in data["alert_messages"]],
            [42, 20, 98, 30],
        )

    heading("Audio evidence - chain of custody (SHA-256 of each file as uploaded)")
    table(
        ["Sensor", "Start (UTC)", "Length", "Distance", "SHA-256"],
        [
            [
                c["serial"],
                c["start"],
                f"{c['duration_s']:.2f} s",
                f"{c['distance_m']:.0f} m",
                c["sha256"],
            ]
            for c in data["clips"]
        ]
        or [["-", "no audio clips", "", "", ""]],
        [28, 42, 16, 16, 88],
        size=7,
    )

    pdf.ln(4)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(
        width,
        4,
        _latin1(f"Generated {data['generated_local']} by {generated_by}. ShotSpotter Open."),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
