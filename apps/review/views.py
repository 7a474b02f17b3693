"""Pages of the Incident Review Center: the live queue, the review screen, filtered
incidents, surge mode and metrics. Thin: the services decide, the selectors read.

Every view is for verified review-center staff (IRC reviewers, platform administrators):
anonymous visitors go to the log-in page, a session without its second factor to the
code page (``TwoFactorRequiredMiddleware``), every other role gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.core.problems import problem_response
from apps.core.unavailable import note_saved
from apps.geo.models import CoverageArea
from apps.incidents.models import Incident, IncidentStatus
from apps.realtime.models import Audience
from apps.realtime.selectors import latest_event_id
from apps.review import selectors, services
from apps.review.conf import review_setting
from apps.review.forms import DecisionForm, PromoteForm
from apps.review.models import Decision, Flag, NotGunfireReason, SurgeMode
from apps.review.screen import review_screen

# Keyboard shortcuts of the review screen (shown on screen; screen.js implements them).
DECISION_KEYS = [
    ("1", Decision.SINGLE_GUNSHOT),
    ("2", Decision.MULTIPLE_GUNSHOTS),
    ("3", Decision.POSSIBLE_GUNFIRE),
    ("0", Decision.NOT_GUNFIRE),
]
REASON_KEYS = [
    ("F", NotGunfireReason.FIREWORK),
    ("K", NotGunfireReason.FIRECRACKER),
    ("B", NotGunfireReason.BACKFIRE),
    ("N", NotGunfireReason.CONSTRUCTION),
    ("O", NotGunfireReason.OTHER),
]
REVIEW_ERRORS = (ValidationError, PermissionDenied, services.ReviewError)


def reviewer_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user.is_active or not user.is_irc_reviewer:
            from apps.core.views import forbidden

            return forbidden(
                request,
                message="The Incident Review Center is only for review-center staff.",
            )
        if not user.is_verified():  # the middleware sends these to the code page first
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


def _error_text(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return " ".join(
                str(message) for errors in error.message_dict.values() for message in errors
            )
        return " ".join(error.messages)
    return str(error) or "Not allowed."


def _queue_context() -> dict:
    return {
        "items": selectors.review_queue(),
        "target_seconds": int(review_setting("REVIEW_TARGET_SECONDS")),
    }


# --- Queue ----------------------------------------------------------------------------------


@reviewer_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    surges = {s.coverage_area_id: s for s in SurgeMode.objects.all()}
    areas = [
        {"area": area, "surge": surges.get(area.pk)}
        for area in CoverageArea.objects.select_related("agency").order_by("agency__name", "name")
    ]
    return render(
        request,
        "review/queue.html",
        {
            **_queue_context(),
            "tab": "queue",
            "my_claim": selectors.claim_of(reviewer=request.user),
            "areas": areas,
            "last_event_id": latest_event_id(audience=Audience.REVIEW, agency_id=None),
            "surge_default": review_setting("REVIEW_SURGE_DEFAULT_THRESHOLD"),
        },
    )


@reviewer_required
@require_GET
def queue_rows(request: HttpRequest) -> HttpResponse:
    """The queue table body, for the page's live refresh."""
    return render(request, "review/_queue_rows.html", _queue_context())


@reviewer_required
@require_POST
def claim_next(request: HttpRequest) -> HttpResponse:
    try:
        taken = services.claim_next(reviewer=request.user)
    except REVIEW_ERRORS as error:
        messages.error(request, _error_text(error))
        return redirect("review:queue")
    if taken is None:
        messages.info(request, "Nothing unclaimed is waiting for review.")
        return redirect("review:queue")
    return redirect("review:incident", incident_id=taken.pk)


@reviewer_required
@require_POST
def claim(request: HttpRequest, incident_id: int) -> HttpResponse:
    try:
        services.claim(reviewer=request.user, incident_id=incident_id)
    except REVIEW_ERRORS as error:
        messages.error(request, _error_text(error))
        return redirect("review:queue")
    return redirect("review:incident", incident_id=incident_id)


@reviewer_required
@require_POST
def release(request: HttpRequest, incident_id: int) -> HttpResponse:
    if services.release(reviewer=request.user, incident_id=incident_id):
        messages.info(request, "Released back to the queue.")
    else:
        messages.error(request, "You did not hold that incident.")
    return redirect("review:queue")


@reviewer_required
@require_POST
def touch(request: HttpRequest, incident_id: int) -> JsonResponse:
    """The open review screen keeps its claim alive (idle claims are released).

    A claim no longer held is a 409 problem+json (still with ``"held": false``)."""
    if not services.touch_claim(reviewer=request.user, incident_id=incident_id):
        return problem_response(
            status=409,
            title="Claim not held",
            detail="You no longer hold this incident.",
            held=False,
        )
    return JsonResponse({"held": True})


# --- Review screen --------------------------------------------------------------------------


def _incident(incident_id: int) -> Incident:
    incident = (
        Incident.objects.select_related("agency", "coverage_area", "beat", "district")
        .filter(pk=incident_id)
        .first()
    )
    if incident is None or incident.status == IncidentStatus.FILTERED:
        raise Http404("No such incident in review.")
    return incident


def _screen(request, incident: Incident, *, form: DecisionForm | None = None, status=200):
    holder_claim = selectors.claim_for_incident(incident_id=incident.pk)
    is_holder = holder_claim is not None and holder_claim.reviewer_id == request.user.pk
    can_decide = is_holder and incident.status == IncidentStatus.PENDING_REVIEW
    if form is None:
        form = DecisionForm(initial={"rounds": incident.rounds, "flags": _machine_flags(incident)})
    context = {
        "incident": incident,
        "claim": holder_claim,
        "is_holder": is_holder,
        "can_decide": can_decide,
        "decision": selectors.decision_for(incident=incident),
        "history": selectors.history_for(incident=incident, user=request.user),
        "form": form,
        "decision_keys": [(key, d.value, d.label) for key, d in DECISION_KEYS],
        "reason_keys": [(key, r.value, r.label) for key, r in REASON_KEYS],
        "flags": list(Flag),
        "decisions": list(Decision),
        "reasons": list(NotGunfireReason),
        "target_seconds": int(review_setting("REVIEW_TARGET_SECONDS")),
        "last_event_id": latest_event_id(audience=Audience.REVIEW, agency_id=None),
        "MAP_TILE_URL": settings.MAP_TILE_URL,
        "age_s": (timezone.now() - incident.detected_at).total_seconds(),
        # The screen shows times in the agency's zone, as the portal does (not the server's UTC).
        "agency_time_zone": incident.agency.time_zone,
        **review_screen(incident),
    }
    return render(request, "review/incident.html", context, status=status)


def _machine_flags(incident: Incident) -> list[str]:
    flags = []
    if incident.fully_automatic:
        flags.append(Flag.FULLY_AUTOMATIC.value)
    if incident.multiple_shooters:
        flags.append(Flag.MULTIPLE_SHOOTERS.value)
    return flags


@reviewer_required
@require_GET
def incident(request: HttpRequest, incident_id: int) -> HttpResponse:
    found = _incident(incident_id)
    return _screen(request, found)


@reviewer_required
@require_POST
def decide(request: HttpRequest, incident_id: int) -> HttpResponse:
    found = _incident(incident_id)
    holder = selectors.claim_for_incident(incident_id=found.pk)
    if holder is None or holder.reviewer_id != request.user.pk:
        messages.error(request, "Only the reviewer holding this incident may decide it.")
        return _screen(request, found, status=403)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _screen(request, found, form=form, status=400)
    data = form.cleaned_data
    moved = None
    if data.get("latitude") is not None and data.get("longitude") is not None:
        moved = (data["latitude"], data["longitude"])
    try:
        services.decide(
            reviewer=request.user,
            incident_id=found.pk,
            decision=data["decision"],
            rounds=data["rounds"],
            flags=data.get("flags") or [],
            not_gunfire_reason=data.get("not_gunfire_reason") or None,
            moved_location=moved,
            location_note=data.get("location_note") or "",
            comment=data.get("comment") or "",
            request=request,
        )
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for name, errors in error.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            form.add_error(None, error.messages)
        return _screen(request, _incident(incident_id), form=form, status=400)
    except REVIEW_ERRORS as error:
        messages.error(request, _error_text(error))
        return _screen(request, _incident(incident_id), status=409)
    label = Decision(data["decision"]).label
    verb = "dismissed" if data["decision"] == Decision.NOT_GUNFIRE else "published"
    # Committed (with its alert): a failure from here on must not read "may not be saved".
    note_saved(request, what=f"Incident {found.reference}: {label}, {verb}")
    messages.success(request, f"Incident {found.reference}: {label}, {verb}.")
    return redirect("review:queue")


@reviewer_required
@require_POST
def reclassify(request: HttpRequest, incident_id: int) -> HttpResponse:
    """A new classification of a decided incident; the reason is mandatory (history)."""
    found = _incident(incident_id)
    rounds = request.POST.get("rounds") or None
    try:
        services.reclassify(
            reviewer=request.user,
            incident_id=found.pk,
            decision=request.POST.get("decision", ""),
            reason=request.POST.get("reason", ""),
            rounds=int(rounds) if rounds is not None else None,
            flags=request.POST.getlist("flags"),
            not_gunfire_reason=request.POST.get("not_gunfire_reason") or None,
            request=request,
        )
    except ValueError:
        messages.error(request, "Rounds is a whole number.")
    except REVIEW_ERRORS as error:
        messages.error(request, _error_text(error))
    else:
        note_saved(request, what=f"Incident {found.reference} reclassified")
        messages.success(request, "Reclassified; the agency sees the change and the reason.")
    return redirect("review:incident", incident_id=found.pk)


@reviewer_required
@require_POST
def comment(request: HttpRequest, incident_id: int) -> HttpResponse:
    found = _incident(incident_id)
    try:
        services.add_comment(
            author=request.user,
            incident_id=found.pk,
            text=request.POST.get("text", ""),
            request=request,
        )
    except REVIEW_ERRORS as error:
        messages.error(request, _error_text(error))
    else:
        note_saved(request, what=f"Comment on incident {found.reference}")
        messages.success(request, "Comment added.")
    return redirect("review:incident", incident_id=found.pk)


# --- Filtered incidents, surge mode, metrics ---------------------------------------------------


@reviewer_required
@require_GET
def filtered(request: HttpRequest) -> HttpResponse:
    rows = selectors.filtered_incidents()
    for row in rows:
        ranked = sorted(
            (row.get("class_probabilities") or {}).items(), key=lambda kv: kv[1], reverse=True
        )
        row["top_classes"] = [(name, round(float(p) * 100)) for name, p in ranked[:2]]
    return render(
        request,
        "review/filtered.html",
        {"tab": "filtered", "rows": rows, "form": PromoteForm()},
    )


@reviewer_required
@require_POST
def promote(request: HttpRequest, incident_id: int) -> HttpResponse:
    found = get_object_or_404(Incident, pk=incident_id, status=IncidentStatus.FILTERED)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _error_text(ValidationError(form.errors.as_data())))
        return redirect("review:filtered")
    try:
        services.promote_filtered(
            reviewer=request.user,
            incident_id=incident_id,
            reason=form.cleaned_data["reason"],
            request=request,
        )
    except REVIEW_ERRORS as error:
        messages.error(request, _error_text(error))
        return redirect("review:filtered")
    note_saved(request, what=f"Incident {found.reference} promoted to review")
    messages.success(request, "Promoted to review; its audio has been requested.")
    return redirect("review:queue")


@reviewer_required
@require_POST
def surge(request: HttpRequest, area_id: int) -> HttpResponse:
    area = get_object_or_404(CoverageArea, pk=area_id)
    on = request.POST.get("on") == "1"
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation box to change surge mode.")
        return redirect(reverse("review:queue") + "#surge")
    threshold = request.POST.get("threshold") or None
    try:
        services.set_surge(
            actor=request.user,
            coverage_area_id=area.pk,
            on=on,
            threshold=float(threshold) if threshold is not None else None,
            request=request,
        )
    except ValueError:
        messages.error(request, "The threshold is a probability between 0 and 1.")
        return redirect(reverse("review:queue") + "#surge")
    except REVIEW_ERRORS as error:
        messages.error(request, _error_text(error))
        return redirect(reverse("review:queue") + "#surge")
    note_saved(request, what=f"Surge mode {'on' if on else 'off'} in {area.name}")
    messages.success(request, f"Surge mode {'on' if on else 'off'} in {area.name}.")
    return redirect(reverse("review:queue") + "#surge")


@reviewer_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    figures = selectors.review_metrics()
    return render(
        request,
        "review/metrics.html",
        {"tab": "metrics", "m": figures, "chart": _hourly_chart(figures.hourly)},
    )


def _hourly_chart(hourly) -> dict:
    """Bars of the decisions per clock hour for an inline SVG (viewBox 0 0 720 140)."""
    peak = max((count for _, count in hourly), default=0) or 1
    step = 700 / max(len(hourly), 1)
    bars = []
    for index, (hour, count) in enumerate(hourly):
        height = 100 * count / peak
        bars.append(
            {
                "x": 10 + index * step + 1,
                "width": max(step - 2, 1),
                "y": 110 - height,
                "height": height,
                "count": count,
                "label": f"{hour:%H}" if index % 3 == 0 else "",
                "hour": f"{hour:%Y-%m-%d %H}:00",
                "cx": 10 + index * step + step / 2,
                "ty": 110 - height - 3,
            }
        )
    return {"bars": bars, "peak": peak}
