"""``{{ facts.local_time|local_time_text:facts.time_zone }}`` -> "Tue 2026-06-09 23:30:00 CDT".

The alert facts keep the ISO 8601 time for machines (webhooks, CAP); people reading an
alert e-mail on a phone get the date, the time and the zone's abbreviation, as the
portal shows them.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import template

register = template.Library()


@register.filter(name="local_time_text")
def local_time_text(iso_time: str, time_zone: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(iso_time).astimezone(zoneinfo.ZoneInfo(time_zone))
    except (TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return iso_time  # never lose the time over a formatting problem
    return moment.strftime("%a %Y-%m-%d %H:%M:%S %Z")
