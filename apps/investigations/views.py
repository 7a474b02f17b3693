"""Pages of investigation requests. Thin: forms parse, services decide, selectors read.

Agency side (Investigator Portal grant): the agency's own requests, filing one, one
request's page with its status, results and every audited step, and cancelling it.
Another agency's request is a 404, never a hint that it exists. Its audio plays through
``apps.evidence`` (``evidence:kind_clip_playback`` with the kind ``investigation``).

Review side (verified review-center staff, ``apps.review.views.reviewer_required``): the
queue, one request (opening it is audited), search, locate, audio, complete, decline.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.access import application_required
from apps.accounts.models import Application
from apps.investigations import selectors, services
from apps.investigations.forms import (
    AudioForm,
    CancelForm,
    CompleteForm,
    DeclineForm,
    FileForm,
    LocateForm,
)
from apps.investigations.models import (
    INVESTIGATION_AUDIO_MAX_DISTANCE_M,
    INVESTIGATION_AUDIO_MAX_WINDOW_S,
    SENSOR_BUFFER_HOURS,
    InvestigationStatus,
)
from apps.review.views import reviewer_required

PORTAL = Application.INVESTIGATOR_PORTAL
# Pre-filled audio window around a located shot: as for incidents, 2 s before, 4 s after.
PREFILL_BEFORE_S = 2.0
PREFILL_LENGTH_S = 6.0


def _messages_of(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [m for errors in error.message_dict.values() for m in errors]
    return list(error.messages)


def _map_data(investigation, *, sensors=()) -> dict:
    """The request's map (see selectors.investigation_map); tiles only when configured."""
    data = selectors.investigation_map(investigation=investigation, sensors=list(sensors))
    data["tiles"] = {"url": settings.MAP_TILE_URL, "attribution": settings.MAP_TILE_ATTRIBUTION}
    return data


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- Agency side ----------------------------------------------------------------------------


@application_required(PORTAL)
@require_GET
def agency_list(request: HttpRequest) -> HttpResponse:
    rows = selectors.investigation_list_for_agency(agency=request.user.agency)
    return render(request, "investigations/agency_list.html", {"rows": rows})


@application_required(PORTAL)
@require_http_methods(["GET", "POST"])
def agency_file(request: HttpRequest) -> HttpResponse:
    agency = request.user.agency
    form = FileForm(request.POST or None, time_zone=agency.time_zone)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                investigation = services.investigation_file(
                    user=request.user,
                    case_number=data["case_number"],
                    justification=data["justification"],
                    occurred_at=data["occurred_at"],
                    tolerance_s=data["tolerance_s"],
                    radius_m=data["radius_m"],
                    latitude=data["latitude"],
                    longitude=data["longitude"],
                    address=data["address"],
                    related_incident_number=data["related_incident"],
                    request=request,
                )
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    for message in errors:
                        form.add_error(field if field in form.fields else None, message)
            else:
                messages.success(request, f"Request {investigation.reference} filed.")
                return redirect("investigations:detail", investigation_id=investigation.pk)
        status = 400
    return render(request, "investigations/agency_file.html", {"form": form}, status=status)


@application_required(PORTAL)
@require_GET
def agency_detail(request: HttpRequest, investigation_id: int) -> HttpResponse:
    investigation = selectors.investigation_get_for_agency(
        agency=request.user.agency, investigation_id=investigation_id
    )
    if investigation is None:
        raise Http404("No such investigation request.")
    return render(
        request,
        "investigations/agency_detail.html",
        {
            "investigation": investigation,
            "timeline": selectors.investigation_timeline_rows(investigation=investigation),
            "clips": selectors.investigation_clips(investigation=investigation),
            "audio_requests": selectors.investigation_audio_requests(investigation=investigation),
            "can_play": selectors.may_play_investigation_audio(
                user=request.user, investigation=investigation
            ),
            "can_cancel": selectors.may_cancel_investigation(
                user=request.user, investigation=investigation
            ),
            "cancel_form": CancelForm(),
            "result": investigation.search_result,
            "map_data": _map_data(investigation),
        },
    )


@application_required(PORTAL)
@require_POST
def agency_cancel(request: HttpRequest, investigation_id: int) -> HttpResponse:
    """The filer or the agency's super user withdraws an open request (audited)."""
    investigation = selectors.investigation_get_for_agency(
        agency=request.user.agency, investigation_id=investigation_id
    )
    if investigation is None:
        raise Http404("No such investigation request.")
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The reason is at most 2000 characters.")
        return redirect("investigations:detail", investigation_id=investigation.pk)
    try:
        services.investigation_cancel(
            investigation_id=investigation.pk,
            user=request.user,
            reason=form.cleaned_data["reason"],
            request=request,
        )
    except ValidationError as error:
        _report(request, error)
    else:
        messages.success(request, f"Request {investigation.reference} cancelled.")
    return redirect("investigations:detail", investigation_id=investigation.pk)


# --- Review side ----------------------------------------------------------------------------


@reviewer_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "investigations/review_queue.html",
        {"rows": selectors.investigation_queue(), "tab": "investigations"},
    )


def _audio_form_initial(investigation) -> dict:
    if investigation.has_located_shot:
        start = investigation.located_at - dt.timedelta(seconds=PREFILL_BEFORE_S)
        return {"source_start": _iso(start), "duration_s": PREFILL_LENGTH_S}
    return {"source_start": _iso(investigation.occurred_at), "duration_s": PREFILL_LENGTH_S}


def _review_page(request, investigation, *, audio_form=None, status=200) -> HttpResponse:
    sensors = selectors.sensors_for_audio(investigation=investigation)
    in_radius = selectors.sensors_in_radius(investigation=investigation)
    if audio_form is None:
        audio_form = AudioForm(
            initial=_audio_form_initial(investigation),
            sensor_choices=[(s.sensor.pk, s.sensor.serial_number) for s in sensors],
        )
    return render(
        request,
        "investigations/review_detail.html",
        {
            "tab": "investigations",
            "investigation": investigation,
            "result": investigation.search_result,
            "sensors": sensors,
            "audio_form": audio_form,
            "complete_form": CompleteForm(),
            "decline_form": DeclineForm(),
            "audio_requests": selectors.investigation_audio_requests(investigation=investigation),
            "clips": selectors.investigation_clips(investigation=investigation),
            "timeline": selectors.investigation_timeline_rows(investigation=investigation),
            "max_distance_m": INVESTIGATION_AUDIO_MAX_DISTANCE_M,
            "max_window_s": INVESTIGATION_AUDIO_MAX_WINDOW_S,
            "buffer_hours": SENSOR_BUFFER_HOURS,
            "statuses": InvestigationStatus,
            "sensors_in_radius": in_radius,
            "map_data": _map_data(investigation, sensors=in_radius),
        },
        status=status,
    )


def _get_or_404(investigation_id: int):
    investigation = selectors.investigation_get(investigation_id=investigation_id)
    if investigation is None:
        raise Http404("No such investigation request.")
    return investigation


@reviewer_required
@require_GET
def review_detail(request: HttpRequest, investigation_id: int) -> HttpResponse:
    investigation = _get_or_404(investigation_id)
    services.investigation_record_view(
        investigation=investigation, reviewer=request.user, request=request
    )
    return _review_page(request, investigation)


def _report(request, error: ValidationError) -> None:
    for message in _messages_of(error):
        messages.error(request, message)


@reviewer_required
@require_POST
def review_search(request: HttpRequest, investigation_id: int) -> HttpResponse:
    _get_or_404(investigation_id)
    try:
        found = services.investigation_search(
            investigation_id=investigation_id, reviewer=request.user, request=request
        )
    except ValidationError as error:
        _report(request, error)
    else:
        result = found.search_result
        messages.info(
            request,
            f"{result['n_pulses']} pulses from {result['n_sensors']} sensors; "
            f"{len(result['shots'])} shots located.",
        )
    return redirect("investigations:review", investigation_id=investigation_id)


@reviewer_required
@require_POST
def review_locate(request: HttpRequest, investigation_id: int) -> HttpResponse:
    _get_or_404(investigation_id)
    form = LocateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the located shots.")
        return redirect("investigations:review", investigation_id=investigation_id)
    try:
        services.investigation_locate(
            investigation_id=investigation_id,
            reviewer=request.user,
            shot_index=form.cleaned_data["shot"],
            request=request,
        )
    except ValidationError as error:
        _report(request, error)
    else:
        messages.success(request, "Shot taken as the source; sensor distances now use it.")
    return redirect("investigations:review", investigation_id=investigation_id)


@reviewer_required
@require_POST
def review_audio(request: HttpRequest, investigation_id: int) -> HttpResponse:
    investigation = _get_or_404(investigation_id)
    sensors = selectors.sensors_for_audio(investigation=investigation)
    form = AudioForm(
        request.POST, sensor_choices=[(s.sensor.pk, s.sensor.serial_number) for s in sensors]
    )
    if not form.is_valid():
        return _review_page(request, investigation, audio_form=form, status=400)
    data = form.cleaned_data
    try:
        created = services.investigation_audio_request(
            investigation_id=investigation_id,
            reviewer=request.user,
            sensor_ids=data["sensors"],
            source_start=data["source_start"],
            duration_s=data["duration_s"],
            request=request,
        )
    except ValidationError as error:
        for message in _messages_of(error):
            form.add_error(None, message)
        return _review_page(request, investigation, audio_form=form, status=400)
    messages.success(request, f"Audio requested from {len(created)} sensor(s).")
    return redirect("investigations:review", investigation_id=investigation_id)


def _close_view(request, investigation_id: int, *, form_class, field: str, service):
    _get_or_404(investigation_id)
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the text for the agency.")
        return redirect("investigations:review", investigation_id=investigation_id)
    try:
        closed = service(
            investigation_id=investigation_id,
            reviewer=request.user,
            request=request,
            **{field: form.cleaned_data[field]},
        )
    except ValidationError as error:
        _report(request, error)
    else:
        messages.success(request, f"{closed.reference} {closed.get_status_display().lower()}.")
    return redirect("investigations:review", investigation_id=investigation_id)


@reviewer_required
@require_POST
def review_complete(request: HttpRequest, investigation_id: int) -> HttpResponse:
    return _close_view(
        request,
        investigation_id,
        form_class=CompleteForm,
        field="findings",
        service=services.investigation_complete,
    )


@reviewer_required
@require_POST
def review_decline(request: HttpRequest, investigation_id: int) -> HttpResponse:
    return _close_view(
        request,
        investigation_id,
        form_class=DeclineForm,
        field="reason",
        service=services.investigation_decline,
    )
