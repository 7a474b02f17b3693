"""``{{ incident.ellipse_major_m|within_95 }}`` -> "3.1 m" (see ``apps.alerts.accuracy``)."""

from __future__ import annotations

from django import template

from apps.alerts.accuracy import within_text

register = template.Library()


@register.filter(name="within_95")
def within_95(semi_major_m) -> str:
    return within_text(semi_major_m)
