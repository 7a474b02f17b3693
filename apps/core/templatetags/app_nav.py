"""The top bar's links to the agency applications the user may open.

Every agency page (Alert Console, Investigator Portal, investigation requests, Briefing
Room, Siren) shows the same links, so a user granted several applications switches
between them from wherever they are (release 2014.2: "switch between the products
seamlessly"). One query for the user's grants.
"""

from __future__ import annotations

from django import template
from django.urls import reverse

from apps.accounts.access import granted_applications
from apps.accounts.models import Application

register = template.Library()

# (application granting the link, link key, URL name, label), in menu order.
NAV_LINKS = (
    (Application.ALERT_CONSOLE, "alert_console", "portal:console", "Alert Console"),
    (
        Application.INVESTIGATOR_PORTAL,
        "investigator_portal",
        "portal:investigator",
        "Investigator Portal",
    ),
    (
        Application.INVESTIGATOR_PORTAL,
        "investigations",
        "investigations:list",
        "Investigation requests",
    ),
    (Application.BRIEFING_ROOM, "briefing_room", "briefing:index", "Briefing Room"),
    (Application.SIREN, "siren", "portal:siren", "Siren"),
)


@register.inclusion_tag("core/_app_nav.html", takes_context=True)
def app_nav(context, current: str = "") -> dict:
    """Links to the user's granted applications; ``current`` is the link key marked current."""
    request = context.get("request")
    user = getattr(request, "user", None)
    granted = set(granted_applications(user=user)) if user is not None else set()
    links = [
        {"url": reverse(url_name), "label": label, "current": key == current}
        for application, key, url_name, label in NAV_LINKS
        if application in granted
    ]
    return {"links": links}
