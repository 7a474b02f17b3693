"""The Briefing Room: counts, heat map and trends of an agency's published incidents.

Needs the Briefing Room grant; everything is scoped to the user's agency. Exports are
audited (``export.csv`` / ``export.geojson`` with the filters and the row count), as the
privacy policy requires for every export. An export with bad filters is a 400
problem+json naming each one (the page itself re-renders its form at 400).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import zoneinfo

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.access import application_required
from apps.accounts.models import Application
from apps.audit.services import record_event
from apps.briefing import selectors
from apps.briefing.forms import DEFAULT_DAYS, BriefingFilterForm
from apps.core.problems import invalid_params_response


def _filters(request: HttpRequest):
    agency = request.user.agency
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(agency.time_zone)).date()
    data = request.GET
    if not data:  # the default period, shown in the form
        start = today - dt.timedelta(days=DEFAULT_DAYS - 1)
        data = {"start": start.isoformat(), "end": today.isoformat()}
    form = BriefingFilterForm(data, agency=agency, today=today)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    return form, selectors.BriefingFilters(
        start=data["start"],
        end=data["end"],
        types=tuple(data["types"]),
        district_id=data["district"].pk if data["district"] else None,
        beat_id=data["beat"].pk if data["beat"] else None,
    )


@require_GET
@application_required(Application.BRIEFING_ROOM)
def index(request: HttpRequest) -> HttpResponse:
    agency = request.user.agency
    form, filters = _filters(request)
    if filters is None:
        return render(request, "briefing/index.html", {"form": form, "agency": agency}, status=400)
    rows = selectors.briefing_rows(agency=agency, filters=filters)
    figures = selectors.briefing_figures(agency=agency, filters=filters, rows=rows)
    peak = max(
        [1, *figures.by_hour, *figures.by_weekday, *(n for _, n in figures.by_week)],
    )
    return render(
        request,
        "briefing/index.html",
        {
            "form": form,
            "agency": agency,
            "filters": filters,
            "figures": figures,
            "hours": list(enumerate(figures.by_hour)),
            "weekdays": list(zip(selectors.WEEKDAYS, figures.by_weekday, strict=True)),
            "beat_max": max([1, *(n for _, n in figures.by_beat)]),
            "district_max": max([1, *(n for _, n in figures.by_district)]),
            "peak": peak,
            "heat": figures.heat,
            "query": request.GET.urlencode(),
        },
    )


def _audit_export(request: HttpRequest, *, action: str, filters, count: int) -> None:
    record_event(
        action=action,
        actor=request.user,
        agency=request.user.agency,
        request=request,
        target_label=f"Briefing Room export ({count} incidents)",
        details={"filters": filters.as_dict(), "rows": count},
    )


@require_GET
@application_required(Application.BRIEFING_ROOM)
def export_csv(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    if filters is None:
        return invalid_params_response(form=form, title="Invalid filters")
    rows = selectors.briefing_rows(agency=request.user.agency, filters=filters)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"incidents-{request.user.agency.system_id}-{filters.start}-{filters.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    writer = csv.writer(response)
    writer.writerow(selectors.CSV_COLUMNS)
    for row in rows:
        record = selectors.export_record(row)
        writer.writerow([selectors.csv_safe(record[c]) for c in selectors.CSV_COLUMNS])
    _audit_export(request, action="export.csv", filters=filters, count=len(rows))
    return response


@require_GET
@application_required(Application.BRIEFING_ROOM)
def export_geojson(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    if filters is None:
        return invalid_params_response(form=form, title="Invalid filters")
    rows = selectors.briefing_rows(agency=request.user.agency, filters=filters)
    response = HttpResponse(
        json.dumps(selectors.geojson(rows)), content_type="application/geo+json"
    )
    name = f"incidents-{request.user.agency.system_id}-{filters.start}-{filters.end}.geojson"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    _audit_export(request, action="export.geojson", filters=filters, count=len(rows))
    return response
