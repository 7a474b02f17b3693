"""Alert Console, Investigator Portal and Siren pages (thin: selectors read, services write).

Every page checks its own application grant. Incidents are looked up within the user's
agency only, so an incident of another agency is a 404, never a hint that it exists.
"""

from __future__ import annotations

import json
import zoneinfo

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from apps.accounts.access import (
    application_required,
    can_use_application,
)
from apps.accounts.models import Application
from apps.incidents.models import IncidentStatus
from apps.portal import selectors, services
from apps.portal.forms import IncidentSearchForm
from apps.realtime.models import Audience
from apps.realtime.selectors import latest_event_id

PROFILES = {"call_taker": "Call Taker", "mobile": "Mobile"}
PROFILE_SESSION_KEY = "portal_console_profile"

# Where each application shows one incident.
DETAIL_URL_NAMES = {
    Application.ALERT_CONSOLE: "portal:console_incident",
    Application.INVESTIGATOR_PORTAL: "portal:investigator_incident",
    Application.SIREN: "portal:siren_incident",
}


def _incident_url(application: str, incident) -> str:
    return reverse(
        DETAIL_URL_NAMES[application],
        kwargs={"system_id": incident.agency.system_id, "number": incident.number},
    )


def _incident_url_template(application: str) -> str:
    url = reverse(DETAIL_URL_NAMES[application], kwargs={"system_id": "000", "number": 1})
    return url.replace("/000/1", "/{system_id}/{number}")


def _console_profile(request: HttpRequest) -> str:
    requested = request.GET.get("profile")
    if requested in PROFILES:
        request.session[PROFILE_SESSION_KEY] = requested
        return requested
    return request.session.get(PROFILE_SESSION_KEY, "call_taker")


def _page_context(request: HttpRequest, *, application: str) -> dict:
    user = request.user
    live = can_use_application(user=user, application=Application.ALERT_CONSOLE) or (
        can_use_application(user=user, application=Application.SIREN)
    )
    context = {
        "application": application,
        "application_label": Application(application).label,
        "apps": selectors.portal_applications(user=user),
        "live": live,
        "toasters": application == Application.ALERT_CONSOLE,
        "last_event_id": latest_event_id(audience=Audience.AGENCY, agency_id=user.agency_id),
        "incident_url_template": _incident_url_template(application),
        "map_tiles": {
            "url": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
        },
        "profile": "",
    }
    if application == Application.ALERT_CONSOLE:
        context["profile"] = _console_profile(request)
        context["profiles"] = PROFILES
        context["pending_alerts"] = selectors.pending_alerts(agency=user.agency)
    return context


def _render(request: HttpRequest, template: str, context: dict, status: int = 200):
    """Render with times in the agency's own time zone."""
    with timezone.override(zoneinfo.ZoneInfo(request.user.agency.time_zone)):
        return render(request, template, context, status=status)


def _list_rows(*, application: str, incidents) -> list[dict]:
    opened = selectors.opened_incident_ids(incident_ids=[i.pk for i in incidents])
    rows = []
    for incident in incidents:
        url = _incident_url(application, incident)
        rows.append(
            {
                "incident": incident,
                "type_label": selectors.incident_type_label(incident),
                "rounds": selectors.incident_rounds(incident),
                "url": url,
                "opened": incident.pk in opened,
                "cancelled": incident.status == IncidentStatus.DISMISSED,
            }
        )
        rows[-1]["marker_json"] = json.dumps(
            selectors.incident_marker(incident, url=url, opened=incident.pk in opened)
        )
        rows[-1]["marker"] = json.loads(rows[-1]["marker_json"])
    return rows


def _list_page(request: HttpRequest, *, application: str) -> HttpResponse:
    agency = request.user.agency
    rows = _list_rows(application=application, incidents=selectors.recent_incidents(agency=agency))
    context = _page_context(request, application=application)
    context.update(
        rows=rows,
        map_data={
            "geography": selectors.agency_geography(agency=agency),
            "incidents": [row["marker"] for row in rows],
            "focus": None,
            "tiles": context["map_tiles"],
        },
    )
    if request.GET.get("fragment") == "list":
        return _render(request, "portal/_incident_rows.html", context)
    return _render(request, "portal/incident_list.html", context)


def _detail_page(request: HttpRequest, *, application: str, system_id: str, number: int):
    user = request.user
    incident = selectors.visible_incident_get(user=user, system_id=system_id, number=number)
    if incident is None:
        raise Http404("No such incident.")
    fragment = request.GET.get("fragment")
    if fragment is None:
        services.mark_opened(user=user, incident=incident)
    nearby = selectors.nearby_incidents(incident=incident)
    url = _incident_url(application, incident)
    marker = selectors.incident_marker(incident, url=url, opened=True)
    nearby_rows = [
        {
            "incident": n.incident,
            "distance_m": n.distance_m,
            "type_label": selectors.incident_type_label(n.incident),
            "url": _incident_url(application, n.incident),
            "marker": selectors.incident_marker(
                n.incident, url=_incident_url(application, n.incident)
            ),
        }
        for n in nearby
    ]
    context = _page_context(request, application=application)
    context.update(
        incident=incident,
        type_label=selectors.incident_type_label(incident),
        rounds=selectors.incident_rounds(incident),
        flags=selectors.incident_flags(incident),
        cancelled=incident.status == IncidentStatus.DISMISSED,
        timeline=selectors.incident_timeline(incident=incident, user=user),
        clips=selectors.incident_clips(incident=incident),
        nearby=nearby_rows,
        opened_by=selectors.opened_by(incident=incident),
        secure_link=request.build_absolute_uri(incident.get_absolute_url()),
        siren_url=incident.get_absolute_url(),
        incident_url=url,
        map_data={
            "geography": selectors.agency_geography(agency=incident.agency),
            "incidents": [row["marker"] for row in nearby_rows],
            "focus": marker,
            "tiles": context["map_tiles"],
        },
    )
    if fragment == "details":
        return _render(request, "portal/_incident_details.html", context)
    return _render(request, "portal/incident_detail.html", context)


# --- Alert Console ----------------------------------------------------------------------------


@application_required(Application.ALERT_CONSOLE)
def console(request: HttpRequest) -> HttpResponse:
    return _list_page(request, application=Application.ALERT_CONSOLE)


@application_required(Application.ALERT_CONSOLE)
def console_incident(request: HttpRequest, system_id: str, number: int) -> HttpResponse:
    return _detail_page(
        request, application=Application.ALERT_CONSOLE, system_id=system_id, number=number
    )


# --- Siren ------------------------------------------------------------------------------------


@application_required(Application.SIREN)
def siren(request: HttpRequest) -> HttpResponse:
    return _list_page(request, application=Application.SIREN)


@application_required(Application.SIREN)
def siren_incident(request: HttpRequest, system_id: str, number: int) -> HttpResponse:
    """The secure link ``/incident/<system_id>/<number>``: log in first, then land here."""
    return _detail_page(request, application=Application.SIREN, system_id=system_id, number=number)


# --- Investigator Portal ----------------------------------------------------------------------


@application_required(Application.INVESTIGATOR_PORTAL)
def investigator(request: HttpRequest) -> HttpResponse:
    agency = request.user.agency
    form = IncidentSearchForm(request.GET or None, agency=agency)
    rows: list[dict] = []
    searched = False
    status = 200
    if form.is_bound:
        if form.is_valid():
            searched = True
            incidents = selectors.incident_search(
                agency=agency, query=form.query(), tz=zoneinfo.ZoneInfo(agency.time_zone)
            )
            rows = _list_rows(application=Application.INVESTIGATOR_PORTAL, incidents=incidents)
        else:
            status = 400
    else:
        rows = _list_rows(
            application=Application.INVESTIGATOR_PORTAL,
            incidents=selectors.recent_incidents(agency=agency, limit=50),
        )
    context = _page_context(request, application=Application.INVESTIGATOR_PORTAL)
    context.update(
        form=form,
        rows=rows,
        searched=searched,
        map_data={
            "geography": selectors.agency_geography(agency=agency),
            "incidents": [row["marker"] for row in rows],
            "focus": None,
            "tiles": context["map_tiles"],
        },
    )
    return _render(request, "portal/investigator.html", context, status=status)


@application_required(Application.INVESTIGATOR_PORTAL)
def investigator_incident(request: HttpRequest, system_id: str, number: int) -> HttpResponse:
    return _detail_page(
        request, application=Application.INVESTIGATOR_PORTAL, system_id=system_id, number=number
    )
