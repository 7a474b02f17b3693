"""Review-center metrics as plain data for the metrics page and for export.

The figures themselves are computed by ``apps.review.selectors.review_metrics``; this
module shapes them (JSON-safe, rounded) so the page and any API show the same numbers.
"""

from __future__ import annotations

import datetime as dt

from apps.review.selectors import ReviewMetrics, review_metrics


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def metrics_summary(*, hours: int = 24, now: dt.datetime | None = None) -> dict:
    m: ReviewMetrics = review_metrics(hours=hours, now=now)
    return {
        "since": m.since.isoformat(),
        "until": m.until.isoformat(),
        "decisions": m.decisions,
        "decisions_per_hour": _round(m.decisions_per_hour, 2),
        "hourly": [{"hour": hour.isoformat(), "decisions": n} for hour, n in m.hourly],
        "detection_to_decision_s": {
            "median": _round(m.median_seconds),
            "p90": _round(m.p90_seconds),
            "share_within_target": _round(m.share_within_target, 4),
            "target_s": m.target_seconds,
        },
        "override_by_machine_class": {
            name: {**entry, "rate": round(entry["rate"], 4)}
            for name, entry in m.override_by_class.items()
        },
        "queue_length": m.queue_length,
    }
