"""The e-mail an agency gets when its investigation request is completed or declined.

It names the request and its outcome and links to the request page; it carries no audio
and no pulse data (the page, behind log-in, shows those). Sent to whoever filed it and to
the agency's super users; recorded once as ``investigation.notified`` on the request, so
a second run of the task sends nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from apps.accounts.models import Role, User
from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.investigations.models import OPEN_STATUSES, InvestigationRequest


def recipients(*, investigation: InvestigationRequest) -> list[str]:
    users = User.objects.filter(agency_id=investigation.agency_id, is_active=True)
    addresses = set(users.filter(role=Role.AGENCY_SUPER_USER).values_list("email", flat=True))
    if investigation.filed_by_id and users.filter(pk=investigation.filed_by_id).exists():
        addresses.add(investigation.filed_by_email)
    return sorted(addresses)


def investigation_closed_notify(*, investigation_id: int) -> int:
    """Send the outcome e-mail; returns the number of recipients (0 if already sent)."""
    with transaction.atomic():
        investigation = (
            InvestigationRequest.objects.select_for_update(of=("self",))
            .select_related("agency")
            .filter(pk=investigation_id)
            .first()
        )
        if investigation is None or investigation.status in OPEN_STATUSES:
            return 0
        already = AuditEvent.objects.filter(
            action="investigation.notified",
            target_type=InvestigationRequest._meta.label_lower,
            target_id=str(investigation.pk),
        ).exists()
        if already:
            return 0
        to = recipients(investigation=investigation)
        if not to:
            return 0
        context = {
            "investigation": investigation,
            "link": settings.SITE_URL.rstrip("/")
            + reverse("investigations:detail", kwargs={"investigation_id": investigation.pk}),
        }
        subject = render_to_string("investigations/email/closed_subject.txt", context)
        body = render_to_string("investigations/email/closed_body.txt", context)
        send_mail(
            subject=" ".join(subject.split()),
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=to,
        )
        record_event(
            action="investigation.notified",
            agency=investigation.agency,
            target=investigation,
            target_label=investigation.reference,
            details={
                "reference": investigation.reference,
                "to": to,
                "status": investigation.status,
            },
        )
    return len(to)
