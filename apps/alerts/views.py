"""Pages of alerts: a Siren user's e-mail preferences; for agency super users the e-mail
delivery status and the dispatch webhooks; the CAP 1.2 feed; the incident report.

Every lookup is scoped to the user's agency, so another agency's objects are not found
(404). Invalid input re-renders the form with status 400 and writes nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import rfc3339_date
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.access import application_required
from apps.accounts.management_views import agency_super_user_required
from apps.accounts.models import Application
from apps.alerts import selectors, services
from apps.alerts.forms import AlertPreferencesForm, WebhookEndpointForm, add_service_errors
from apps.alerts.models import (
    EVENT_TYPES,
    DeliveryStatus,
    DestinationStatus,
    EmailDestination,
)
from apps.alerts.signing import SIGNATURE_HEADER
from apps.core.problems import problem_response
from apps.integrations import services as integrations
from apps.integrations.services import AUDIT_CAP_DOCUMENT_READ, AUDIT_CAP_FEED_READ

PAGE_SIZE = 50


# --- A Siren user's preferences -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@application_required(Application.SIREN)
def preferences(request: HttpRequest) -> HttpResponse:
    user = request.user
    subscription = selectors.subscription_for(user=user)
    if request.method == "POST":
        form = AlertPreferencesForm(request.POST, agency=user.agency)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.subscription_update(
                    user=user,
                    enabled=data["enabled"],
                    beat_ids=[b.pk for b in data["beats"]],
                    district_ids=[d.pk for d in data["districts"]],
                    time_windows=data["time_windows"],
                    incident_types=data["incident_types"],
                    send_updates=data["send_updates"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, "Your alert preferences are saved.")
                return redirect("alerts:preferences")
        status = 400
    else:
        form = AlertPreferencesForm(
            initial=AlertPreferencesForm.initial_from(subscription), agency=user.agency
        )
        status = 200
    destination = EmailDestination.objects.filter(user=user).first()
    return render(
        request,
        "alerts/preferences.html",
        {"form": form, "destination": destination, "agency": user.agency},
        status=status,
    )


# --- Agency super user: e-mail deliveries ---------------------------------------------------


@require_GET
@agency_super_user_required
def deliveries(request: HttpRequest) -> HttpResponse:
    agency = request.user.agency
    destinations = selectors.destinations_for_agency(agency=agency).order_by("-status", "address")
    rows = selectors.notifications_for_agency(agency=agency)
    status = request.GET.get("status", "")
    if status in DeliveryStatus.values:
        rows = rows.filter(status=status)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/agency_deliveries.html",
        {
            "destinations": destinations,
            "failed_count": destinations.filter(
                status=DestinationStatus.PERMANENTLY_FAILED
            ).count(),
            "page": page,
            "status": status,
            "statuses": DeliveryStatus.choices,
        },
    )


@require_POST
@agency_super_user_required
def destination_reset(request: HttpRequest, pk: int) -> HttpResponse:
    destination = get_object_or_404(
        selectors.destinations_for_agency(agency=request.user.agency), pk=pk
    )
    services.destination_reset(destination=destination, actor=request.user, request=request)
    messages.success(request, f"{destination.address} will receive alerts again.")
    return redirect("alerts:deliveries")


# --- Agency super user: webhooks ------------------------------------------------------------


@require_GET
@agency_super_user_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    endpoints = selectors.webhook_endpoints(agency=request.user.agency)
    return render(
        request,
        "alerts/webhook_list.html",
        {"endpoints": endpoints, "signature_header": SIGNATURE_HEADER},
    )


@require_http_methods(["GET", "POST"])
@agency_super_user_required
def webhook_add(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint = services.webhook_endpoint_create(
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    url=form.cleaned_data["url"],
                    event_types=form.cleaned_data["event_types"],
                    request=request,
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                # Shown once, on this response only; never again.
                return _webhook_detail(request, endpoint, new_secret=endpoint.secret, status=201)
        return render(request, "alerts/webhook_form.html", {"form": form}, status=400)
    form = WebhookEndpointForm(initial={"event_types": list(EVENT_TYPES.values())})
    return render(request, "alerts/webhook_form.html", {"form": form})


def _endpoint(request: HttpRequest, pk: int):
    return get_object_or_404(selectors.webhook_endpoints(agency=request.user.agency), pk=pk)


def _webhook_detail(request, endpoint, *, form=None, new_secret="", status=200) -> HttpResponse:
    form = form or WebhookEndpointForm(
        initial={
            "name": endpoint.name,
            "url": endpoint.url,
            "event_types": endpoint.event_types,
            "active": endpoint.active,
        }
    )
    page = Paginator(selectors.webhook_deliveries(endpoint=endpoint), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "alerts/webhook_detail.html",
        {
            "endpoint": endpoint,
            "form": form,
            "new_secret": new_secret,
            "page": page,
            "signature_header": SIGNATURE_HEADER,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@agency_super_user_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                services.webhook_endpoint_update(
                    endpoint=endpoint,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    url=form.cleaned_data["url"],
                    event_types=form.cleaned_data["event_types"],
                    active=form.cleaned_data["active"],
                    request=request,
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, "Endpoint saved.")
                return redirect("alerts:webhook_detail", pk=endpoint.pk)
        endpoint.refresh_from_db()
        return _webhook_detail(request, endpoint, form=form, status=400)
    return _webhook_detail(request, endpoint)


@require_http_methods(["GET", "POST"])
@agency_super_user_required
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (the old secret fails at once, so the dispatch system rejects
    alerts until it has the new one); POST rotates and shows the new secret once."""
    endpoint = _endpoint(request, pk)
    if request.method == "GET":
        return render(request, "alerts/webhook_confirm_rotate.html", {"endpoint": endpoint})
    secret = services.webhook_secret_rotate(endpoint=endpoint, actor=request.user, request=request)
    return _webhook_detail(request, endpoint, new_secret=secret)


@require_POST
@agency_super_user_required
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    """POST a signed ``test`` event to the endpoint; its result is in the delivery log."""
    endpoint = _endpoint(request, pk)
    services.webhook_test_send(endpoint=endpoint, actor=request.user, request=request)
    messages.success(request, "Test delivery sent: its result is at the top of the delivery log.")
    return redirect("alerts:webhook_detail", pk=endpoint.pk)


@require_http_methods(["GET", "POST"])
@agency_super_user_required
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (deleting stops the dispatch system's alerts at once); POST deletes."""
    endpoint = _endpoint(request, pk)
    if request.method == "GET":
        return render(request, "alerts/webhook_confirm_delete.html", {"endpoint": endpoint})
    services.webhook_endpoint_delete(endpoint=endpoint, actor=request.user, request=request)
    messages.success(request, f"Endpoint {endpoint.name} deleted.")
    return redirect("alerts:webhooks")


# --- CAP 1.2 --------------------------------------------------------------------------------


def _own_agency(request: HttpRequest, system_id: str):
    agency = getattr(request, "cap_agency", None) or request.user.agency
    if agency is None or agency.system_id != system_id:
        raise Http404("No such feed.")
    return agency


def cap_access(view):
    """A dispatch system's integration API token (``Authorization: Bearer ...``, its agency
    only, rate-limited) or a logged-in user of the agency with the Siren grant.

    A token's refusals are problem+json, as on the dispatch/CAD read API: 401 with
    ``WWW-Authenticate``, 429 with ``Retry-After``, 404 for another agency's feed or a
    document that is not there (a browser session gets the HTML pages)."""
    from functools import wraps

    siren_view = application_required(Application.SIREN)(view)

    @wraps(view)
    def wrapped(request: HttpRequest, system_id: str, **kwargs) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("bearer "):
            return siren_view(request, system_id, **kwargs)
        try:
            # "Bearer " then nothing but a byte Python counts as whitespace (a server
            # strips only spaces and tabs, not U+00A0): an empty, malformed token.
            token = integrations.api_token_authenticate(plaintext=header[len("bearer ") :].strip())
        except integrations.TokenRefused as refusal:
            response = problem_response(status=401, title="Unauthorized", detail=refusal.detail)
            response["WWW-Authenticate"] = 'Bearer realm="integration-api"'
            return response
        if token.agency.system_id != system_id:
            return _cap_not_found()
        decision = integrations.api_token_rate_check(token=token)
        if not decision.allowed:
            wait_s = int(decision.retry_after_s or 1)
            response = problem_response(
                status=429,
                title="Too Many Requests",
                detail=f"Too many requests with this API token; send again in {wait_s} s.",
            )
            response["Retry-After"] = str(wait_s)
            return response
        request.cap_agency = token.agency
        request.cap_token = token
        try:
            return view(request, system_id, **kwargs)
        except Http404:
            return _cap_not_found()

    return wrapped


def _cap_not_found() -> HttpResponse:
    return problem_response(
        status=404, title="Not Found", detail="There is no such CAP feed or document."
    )


@require_GET
@cap_access
def cap_feed(request: HttpRequest, system_id: str) -> HttpResponse:
    """An Atom feed of the agency's CAP messages (newest first), each linking its document."""
    agency = _own_agency(request, system_id)
    rows = list(selectors.cap_messages(agency=agency)[:100])
    updated = rows[0].sent_at if rows else timezone.now()
    entries = [
        {
            "message": row,
            "url": request.build_absolute_uri(
                reverse(
                    "alerts:cap_message",
                    kwargs={
                        "system_id": system_id,
                        "number": row.facts["number"],
                        "sequence": row.sequence,
                    },
                )
            ),
            "updated": rfc3339_date(row.sent_at),
        }
        for row in rows
    ]
    response = render(
        request,
        "alerts/cap_feed.xml",
        {
            "agency": agency,
            "entries": entries,
            "updated": rfc3339_date(updated),
            "self_url": request.build_absolute_uri(),
        },
        content_type="application/atom+xml; charset=utf-8",
    )
    response["Cache-Control"] = "private, no-store"
    _audit_cap_read(
        request,
        action=AUDIT_CAP_FEED_READ,
        messages=rows,
        content=[row.pk for row in rows],
        extra={"cap_messages": len(rows)},
    )
    return response


def _audit_cap_read(
    request: HttpRequest, *, action: str, messages: list, content, extra: dict
) -> None:
    """A dispatch system's token read the feed or a document: audited like the
    integration API (a Siren user's browser session is not)."""
    token = getattr(request, "cap_token", None)
    if token is None:
        return
    references = list(
        dict.fromkeys(f"{token.agency.system_id}-{row.facts['number']}" for row in messages)
    )
    integrations.integration_read_record(
        token=token,
        action=action,
        endpoint=request.path,
        query=request.GET,
        references=references,
        content=content,
        request=request,
        extra=extra,
    )


@require_GET
@cap_access
def cap_message(request: HttpRequest, system_id: str, number: int, sequence: int) -> HttpResponse:
    agency = _own_agency(request, system_id)
    message = get_object_or_404(
        selectors.cap_messages(agency=agency), incident__number=number, sequence=sequence
    )
    response = HttpResponse(message.cap_xml, content_type="application/cap+xml; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    _audit_cap_read(
        request,
        action=AUDIT_CAP_DOCUMENT_READ,
        messages=[message],
        content=message.pk,
        extra={"cap_identifier": message.identifier},
    )
    return response


# --- Incident report ------------------------------------------------------------------------


def _report_incident(request: HttpRequest, system_id: str, number: int):
    """The published incident, or a response (log-in, 403 page, 404) saying why not."""
    from django.contrib.auth.views import redirect_to_login

    from apps.accounts.access import can_use_application, no_access_response
    from apps.incidents.models import Incident, IncidentStatus

    user = request.user
    if not user.is_authenticated:
        return None, redirect_to_login(request.get_full_path())
    incidents = Incident.objects.select_related(
        "agency", "beat", "district", "coverage_area"
    ).filter(
        agency__system_id=system_id,
        number=number,
        published_at__isnull=False,
        status__in=[IncidentStatus.PUBLISHED, IncidentStatus.DISMISSED],
    )
    if user.is_irc_reviewer and user.is_active:  # review-center staff: every agency
        incident = incidents.first()
        if incident is None:
            raise Http404("No such incident.")
        return incident, None
    if user.agency_id is None or user.agency.system_id != system_id:
        raise Http404("No such incident.")
    if not can_use_application(user=user, application=Application.INVESTIGATOR_PORTAL):
        return None, no_access_response(request, Application.INVESTIGATOR_PORTAL)
    incident = incidents.first()
    if incident is None:
        raise Http404("No such incident.")
    return incident, None


@require_GET
def report_page(request: HttpRequest, system_id: str, number: int) -> HttpResponse:
    from apps.alerts.report import report_audit, report_data

    incident, refusal = _report_incident(request, system_id, number)
    if refusal is not None:
        return refusal
    data = report_data(incident)
    report_audit(incident=incident, actor=request.user, fmt="html", request=request)
    return render(request, "alerts/report.html", data)


@require_GET
def report_pdf(request: HttpRequest, system_id: str, number: int) -> HttpResponse:
    from apps.alerts.report import report_audit, report_data
    from apps.alerts.report import report_pdf as build_pdf

    incident, refusal = _report_incident(request, system_id, number)
    if refusal is not None:
        return refusal
    content = build_pdf(report_data(incident), generated_by=request.user.email)
    report_audit(incident=incident, actor=request.user, fmt="pdf", request=request)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="incident-{incident.agency.system_id}-{incident.number}.pdf"'
    )
    response["Cache-Control"] = "no-store"
    return response
