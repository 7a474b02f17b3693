"""Writes for alerts: preferences, the alert messages of an incident and their delivery.

Flow: a review signal, sent inside the transaction that publishes, updates or cancels
(``apps.alerts.receivers``), calls ``alert_message_record`` with a fresh event id. It
makes, in that same transaction, the ``AlertMessage`` (facts + CAP document), a
``WebhookDelivery`` per subscribed endpoint and a ``Notification`` per e-mail recipient,
so a committed publish always has its alert and deliveries. After the commit it queues the
webhook POSTs first (dispatch is the most urgent), then the e-mails in batches that share
one SMTP connection; a failure to queue leaves them pending for ``requeue_stalled``.
The ``alerts.record_message`` task does the same with the e-mails made afterwards by
``alerts.create_emails``; the event id makes a re-delivered task a no-op.

Failures: an SMTP 4xx reply or a connection error is transient: the attempt is recorded
and attempt n+1 is queued after ``backoff_seconds(n)``; a 5xx refusal of the recipient
or the message is permanent: recorded, and the address is marked permanently failed
(further e-mails to it are recorded as skipped until the agency super user resets it).
A 5xx refusal of the message for its size (at MAIL FROM, RCPT or DATA) fails once, not
retried, and does not mark the address.
Webhooks retry on connection errors, timeouts, 5xx, 408, 425 and 429. In embedded mode
(tasks in-process, no worker: ``retries_can_wait``) nothing could wait for a retry's
countdown, so a failed attempt is recorded as failed, "not retried", and nothing is queued.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import smtplib
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.accounts.access import can_use_application
from apps.accounts.models import Application, User
from apps.alerts import selectors
from apps.alerts.cap import build_cap, cap_identifier, cap_sender, cap_time
from apps.alerts.failures import (
    ENDPOINT_DEACTIVATED,
    GAVE_UP,
    NOT_RETRIED,
    NOT_SENT,
    smtp_refusal_kind,
)
from apps.alerts.models import (
    EVENT_TYPES,
    TEST_EVENT,
    AlertMessage,
    AlertSubscription,
    DeliveryStatus,
    DestinationStatus,
    EmailDestination,
    IncidentType,
    MessageKind,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
)
from apps.alerts.pinned_http import pinned_post
from apps.alerts.signing import SIGNATURE_HEADER, new_secret, signature_header
from apps.audit.services import record_event
from apps.incidents.models import Incident

logger = logging.getLogger("apps.alerts")

UPDATE_CHANGES = ("comment", "reclassified", "location_moved")
RETRY_HTTP_STATUSES = {408, 425, 429}
EXCERPT_CHARS = 1000


def retries_can_wait() -> bool:
    """False in embedded mode (tasks run in-process, ``CELERY_TASK_ALWAYS_EAGER``): a
    retry's countdown would be ignored and it would run at once, in the same request, so
    a failed attempt is final there unless ``ALERTS_RETRY_WHEN_EAGER`` is on."""
    return not settings.CELERY_TASK_ALWAYS_EAGER or settings.ALERTS_RETRY_WHEN_EAGER


def backoff_seconds(attempt: int) -> int:
    """Delay before attempt ``attempt + 1``: base * 2^(attempt-1), capped."""
    return int(min(settings.ALERTS_RETRY_BASE_S * 2 ** (attempt - 1), settings.ALERTS_RETRY_MAX_S))


# --- Preferences ----------------------------------------------------------------------------


def parse_time_windows(text: str) -> list[list[str]]:
    """ "22:00-06:00, 12:00-13:30" -> [["22:00", "06:00"], ["12:00", "13:30"]].

    Raises ValidationError naming the bad part. Empty text: no windows (any time).
    A window may end at 24:00, the end of the day ("22:00-24:00": until midnight).
    """
    windows = []
    for raw in (text or "").replace(";", ",").split(","):
        part = raw.strip()
        if not part:
            continue
        pieces = [p.strip() for p in part.replace("–", "-").split("-")]
        if len(pieces) != 2:
            raise ValidationError(f"{part!r}: write a window as HH:MM-HH:MM, e.g. 22:00-06:00.")
        clean = []
        for index, piece in enumerate(pieces):
            try:
                hours, minutes = piece.split(":")
                value = (int(hours), int(minutes))
            except ValueError:
                raise ValidationError(f"{piece!r} is not a time; use HH:MM (24-hour).") from None
            if value == (24, 0):
                if index == 0:
                    raise ValidationError(
                        f"{part!r}: 24:00 ends a day; a window starts at 00:00 to 23:59."
                    )
            elif not (0 <= value[0] <= 23 and 0 <= value[1] <= 59):
                raise ValidationError(
                    f"{piece!r} is not a time of day (00:00 to 23:59, or 24:00 as an end)."
                )
            clean.append(f"{value[0]:02d}:{value[1]:02d}")
        if clean[0] == clean[1]:
            raise ValidationError(
                f"{part!r} starts and ends at the same time; leave the windows empty for all day."
            )
        windows.append(clean)
    return windows


def format_time_windows(windows: list[list[str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in windows)


@transaction.atomic
def subscription_update(
    *,
    user: User,
    enabled: bool,
    beat_ids: list[int],
    district_ids: list[int],
    time_windows: list[list[str]],
    incident_types: list[str],
    send_updates: bool,
) -> AlertSubscription:
    from apps.geo.models import Beat, District

    beats = list(Beat.objects.filter(agency=user.agency_id, pk__in=beat_ids))
    districts = list(District.objects.filter(agency=user.agency_id, pk__in=district_ids))
    if len(beats) != len(set(beat_ids)) or len(districts) != len(set(district_ids)):
        raise ValidationError("Choose beats and districts of your own agency.")
    unknown = set(incident_types) - set(IncidentType.values)
    if unknown:
        raise ValidationError(f"Unknown incident types: {', '.join(sorted(unknown))}.")
    for window in time_windows:
        parse_time_windows("-".join(window))
    subscription, _ = AlertSubscription.objects.select_for_update().get_or_create(user=user)
    subscription.enabled = enabled
    subscription.time_windows = time_windows
    subscription.incident_types = sorted(set(incident_types))
    subscription.send_updates = send_updates
    subscription.save()
    subscription.beats.set(beats)
    subscription.districts.set(districts)
    return subscription


def destination_for_user(*, user: User) -> EmailDestination:
    """The user's destination, following the account's current e-mail address."""
    destination, created = EmailDestination.objects.get_or_create(
        user=user, defaults={"address": user.email}
    )
    if not created and destination.address != user.email:
        destination.address = user.email
        destination.status = DestinationStatus.OK
        destination.last_error = ""
        destination.failed_at = None
        destination.save()
    return destination


def destinations_for_users(*, users: list[User]) -> dict[int, EmailDestination]:
    """``destination_for_user`` for many users in a few queries."""
    found = {d.user_id: d for d in EmailDestination.objects.filter(user__in=users)}
    missing = [EmailDestination(user=u, address=u.email) for u in users if u.pk not in found]
    for destination in EmailDestination.objects.bulk_create(missing):
        found[destination.user_id] = destination
    for user in users:
        if found[user.pk].address != user.email:
            found[user.pk] = destination_for_user(user=user)
    return found


def destination_reset(*, destination: EmailDestination, actor: User, request=None) -> None:
    """The agency super user says the address works again (e.g. mailbox restored)."""
    previous_error = destination.last_error
    destination.status = DestinationStatus.OK
    destination.last_error = ""
    destination.failed_at = None
    destination.save()
    record_event(
        action="alerts.destination_reset",
        actor=actor,
        agency=actor.agency,
        target=destination,
        request=request,
        details={"address": destination.address, "previous_error": previous_error[:300]},
    )


# --- Alert messages and their fan-out ------------------------------------------------------


def _queue_after_commit(queue) -> None:
    """Queue delivery tasks once the rows they name are committed.

    Robust: a failure to queue (broker down; in embedded mode the task itself runs here
    and may fail) is logged and leaves the committed rows pending for
    ``requeue_stalled``; it never turns the request or task that committed them into an
    error after the fact.
    """
    transaction.on_commit(queue, robust=True)


def alert_message_record(
    *,
    event_uuid: str,
    incident_id: int,
    kind: str,
    change: str = "",
    reason: str = "",
    with_emails: bool = False,
) -> AlertMessage:
    """Make the alert message of a review event and everything it must be delivered to.

    ``with_emails`` also makes its e-mail notifications in this transaction (the review
    signals' receivers do, inside the publishing transaction); without it,
    ``alerts.create_emails`` makes them after the commit. ``reason`` is the reviewer's
    reason for a reclassification or cancel, or a comment's text: the alert repeats it
    (facts ``review_reason``). A cancel keeps the headline of the alert it withdraws and
    every follow-up names the type alerted before (``previous_type_label``).
    """
    if kind not in MessageKind.values:
        raise ValueError(f"unknown alert message kind {kind!r}")
    if kind == MessageKind.UPDATE and change not in UPDATE_CHANGES:
        raise ValueError(f"unknown update change {change!r}; use one of {UPDATE_CHANGES}")
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update(of=("self",))
            .select_related("agency", "beat", "district", "coverage_area")
            .get(pk=incident_id)
        )
        existing = AlertMessage.objects.filter(uuid=event_uuid).first()
        if existing is not None:
            return existing
        previous = list(incident.alert_messages.order_by("sequence"))
        sequence = (previous[-1].sequence if previous else 0) + 1
        facts = selectors.incident_facts(incident)
        note = " ".join(reason.split()) if kind != MessageKind.PUBLISH else ""
        facts["review_reason"] = note or None
        facts["previous_type_label"] = previous[-1].facts.get("type_label") if previous else None
        if kind == MessageKind.CANCEL and previous:
            # What is withdrawn is the alert officers read, not a type guessed from rounds.
            facts["headline"] = previous[-1].facts["headline"]
        sent_at = timezone.now().replace(microsecond=0)
        identifier = cap_identifier(
            system_id=incident.agency.system_id, number=incident.number, sequence=sequence
        )
        references = [(cap_sender(), m.identifier, cap_time(m.sent_at, "UTC")) for m in previous]
        message = AlertMessage.objects.create(
            uuid=event_uuid,
            incident=incident,
            agency=incident.agency,
            sequence=sequence,
            kind=kind,
            change=change if kind == MessageKind.UPDATE else "",
            identifier=identifier,
            sent_at=sent_at,
            facts=facts,
            cap_xml=build_cap(
                identifier=identifier,
                kind=kind,
                change=change,
                sent_at=sent_at,
                facts=facts,
                references=references,
                agency_name=incident.agency.name,
            ),
        )
        delivery_ids = _webhook_deliveries_create(message=message)
        message_id = message.pk
        notification_ids: list[int] | None = None
        if with_emails:
            notification_ids = _emails_make(message=message, incident=incident)

        def queue() -> None:
            from apps.alerts import tasks

            # Dispatch first: the webhook POSTs are queued before any e-mail is sent.
            for delivery_id in delivery_ids:
                tasks.deliver_webhook.delay(delivery_id)
            if notification_ids is None:
                tasks.create_emails.delay(message_id)
            else:
                _queue_emails(notification_ids)

        _queue_after_commit(queue)
    return message


def _queue_emails(notification_ids: list[int]) -> None:
    from apps.alerts import tasks

    size = settings.ALERTS_EMAIL_BATCH_SIZE
    for start in range(0, len(notification_ids), size):
        tasks.send_emails.delay(notification_ids[start : start + size])


def alert_emails_create(*, message_id: int) -> list[int]:
    """Make the e-mail notifications of a message (once) and queue them in batches."""
    with transaction.atomic():
        message = AlertMessage.objects.select_for_update().get(pk=message_id)
        if message.emails_created_at is not None:
            return []
        incident = Incident.objects.select_related(
            "agency", "beat", "district", "coverage_area"
        ).get(pk=message.incident_id)
        notification_ids = _emails_make(message=message, incident=incident)
        _queue_after_commit(lambda: _queue_emails(notification_ids))
    return notification_ids


def _emails_make(*, message: AlertMessage, incident: Incident) -> list[int]:
    """The message's e-mail notifications, made once: ``emails_created_at`` records it."""
    notification_ids = _notifications_create(message=message, incident=incident)
    message.emails_created_at = timezone.now()
    message.save(update_fields=["emails_created_at"])
    return notification_ids


def _webhook_deliveries_create(*, message: AlertMessage) -> list[int]:
    event_type = EVENT_TYPES[message.kind]
    rows = []
    for endpoint in WebhookEndpoint.objects.filter(agency=message.agency, active=True):
        if event_type not in endpoint.event_types:
            continue
        rows.append(
            WebhookDelivery(
                endpoint=endpoint,
                message=message,
                url=endpoint.url,
                request_body=webhook_body(message=message),
            )
        )
    return [row.pk for row in WebhookDelivery.objects.bulk_create(rows)]


def webhook_body(*, message: AlertMessage) -> str:
    return json.dumps(
        {
            "id": str(message.uuid),
            "type": EVENT_TYPES[message.kind],
            "created": message.sent_at.isoformat().replace("+00:00", "Z"),
            "sequence": message.sequence,
            "change": message.change or None,
            "cap_identifier": message.identifier,
            "incident": message.facts,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _msgid(*, message: AlertMessage, destination: EmailDestination) -> str:
    """Short enough never to be folded (a folded id confuses some mail clients' threads)."""
    return (
        f"<alert.{message.facts['reference']}.{message.sequence}.{secrets.token_hex(6)}"
        f"@{selectors.host_of_site()}>"
    )


def email_subject(*, facts: dict) -> str:
    subject = f"{facts['headline']} — {facts['where']} — #{facts['reference']}"
    return " ".join(subject.split())  # no line breaks: they would forge headers


def followup_subject(*, message: AlertMessage, root_subject: str) -> str:
    """A follow-up's subject: a cancel or a change of what was alerted says so up front.

    "CANCELLED: <the alert's subject>"; "UPDATED: <the new subject>" for a reclassification
    or a moved location; "Re: <the alert's subject>" for a comment. The In-Reply-To and
    References headers keep them in the alert's thread.
    """
    original = root_subject.removeprefix("Re: ")
    if message.kind == MessageKind.CANCEL:
        return f"CANCELLED: {original}"
    if message.change in ("reclassified", "location_moved"):
        return f"UPDATED: {email_subject(facts=message.facts)}"
    return f"Re: {original}"


def _notifications_create(*, message: AlertMessage, incident: Incident) -> list[int]:
    rows: list[Notification] = []
    if message.kind == MessageKind.PUBLISH:
        subject = email_subject(facts=message.facts)
        users = selectors.publish_recipients(incident=incident)
        destinations = destinations_for_users(users=users)
        for user in users:
            destination = destinations[user.pk]
            rows.append(
                _notification(
                    message=message, destination=destination, subject=subject, replies_to=None
                )
            )
    else:
        roots = selectors.thread_roots(incident=incident)
        earlier = _followup_ids(incident=incident)
        for root in roots.values():
            user = root.destination.user
            # Still a Siren user of this incident's agency (an account can be moved to
            # another agency after the publish e-mail; it then reads nothing more of it).
            if user.agency_id != incident.agency_id or not can_use_application(
                user=user, application=Application.SIREN
            ):
                continue
            subscription = selectors.subscription_for(user=user)
            if subscription is not None and not (
                subscription.enabled and subscription.send_updates
            ):
                continue
            destination = destination_for_user(user=user)
            rows.append(
                _notification(
                    message=message,
                    destination=destination,
                    subject=followup_subject(message=message, root_subject=root.subject),
                    replies_to=root,
                    references=[root.message_id, *earlier.get(destination.pk, [])],
                )
            )
    created = Notification.objects.bulk_create(rows)
    return [row.pk for row in created if row.status == DeliveryStatus.PENDING]


def _followup_ids(*, incident: Incident) -> dict[int, list[str]]:
    ids: dict[int, list[str]] = {}
    rows = Notification.objects.filter(
        alert__incident=incident, attempt=1, status__in=_LIVE
    ).exclude(alert__kind=MessageKind.PUBLISH)
    for row in rows.order_by("alert__sequence"):
        ids.setdefault(row.destination_id, []).append(row.message_id)
    return ids


_LIVE = (
    DeliveryStatus.PENDING,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.RETRY_SCHEDULED,
)


def _notification(
    *,
    message: AlertMessage,
    destination: EmailDestination,
    subject: str,
    replies_to: Notification | None,
    references: list[str] | None = None,
) -> Notification:
    row = Notification(
        alert=message,
        destination=destination,
        address=destination.address,
        subject=subject[:300],
        message_id=_msgid(message=message, destination=destination),
        in_reply_to=replies_to.message_id if replies_to else "",
        references=" ".join(references or []),
    )
    if destination.status == DestinationStatus.PERMANENTLY_FAILED:
        row.status = DeliveryStatus.SKIPPED
        row.error = f"Address marked permanently failed: {destination.last_error}"[:1000]
    return row


# --- E-mail delivery -------------------------------------------------------------------------


def _render(message: AlertMessage, cache: dict) -> tuple[str, str]:
    if message.pk not in cache:
        context = {
            "facts": message.facts,
            "kind": message.kind,
            "change": message.change,
            "sent_at": message.sent_at,
            "preferences_url": settings.SITE_URL + reverse("alerts:preferences"),
        }
        cache[message.pk] = (
            render_to_string("alerts/email/incident.txt", context),
            render_to_string("alerts/email/incident.html", context),
        )
    return cache[message.pk]


def _email(notification: Notification, cache: dict) -> EmailMultiAlternatives:
    text, html = _render(notification.alert, cache)
    headers = {
        "Message-ID": notification.message_id,
        "X-ShotSpotter-Incident": notification.alert.facts["reference"],
    }
    if notification.in_reply_to:
        headers["In-Reply-To"] = notification.in_reply_to
        headers["References"] = notification.references or notification.in_reply_to
    email = EmailMultiAlternatives(
        subject=notification.subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.address],
        headers=headers,
    )
    email.attach_alternative(html, "text/html")
    return email


def smtp_failure(error: BaseException) -> tuple[bool, int | None, str]:
    """(permanent for the address?, SMTP code, text) of a failed send."""
    code: int | None = None
    text = str(error)
    address_related = False
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()))
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        address_related = True
    elif isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        reply = error.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        # The message or mailbox refused; a refused sender or log-in is our configuration.
        address_related = isinstance(error, smtplib.SMTPDataError)
    if not text:
        text = type(error).__name__
    permanent = address_related and code is not None and 500 <= code < 600
    if permanent and message_too_large(code=code, text=text):
        permanent = False  # this message's fault, not the address's
    return permanent, code, f"{code} {text}" if code else f"{type(error).__name__}: {text}"


def message_too_large(*, code: int | None, text: str) -> bool:
    """Did the server refuse this message for its size (5xx)? Resending the same message
    will not help, and the address is not at fault."""
    return code is not None and 500 <= code < 600 and smtp_refusal_kind(code, text) == "size"


# Replies to the message's own commands (MAIL FROM, RCPT TO, DATA), where a server may
# refuse it for its size; not the greeting, HELO or log-in.
_MESSAGE_REFUSALS = (
    smtplib.SMTPSenderRefused,
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPDataError,
)

SENT_FLUSH_EVERY = 25


def _claim(notification_ids: list[int]) -> list[Notification]:
    """Take the still-pending rows (one transaction: a second worker gets none of them)."""
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk__in=notification_ids, status=DeliveryStatus.PENDING)
            .values_list("pk", flat=True)
        )
        Notification.objects.filter(pk__in=ids).update(status=DeliveryStatus.SENDING)
    return list(
        Notification.objects.filter(pk__in=ids)
        .select_related("alert", "destination")
        .order_by("pk")
    )


def _flush_sent(rows: list[Notification]) -> None:
    if rows:
        Notification.objects.bulk_update(rows, ["status", "error", "smtp_code", "sent_at"])
        rows.clear()


def emails_send(*, notification_ids: list[int]) -> dict[str, int]:
    """Send pending e-mail notifications over one SMTP connection; returns outcome counts.

    Accepted e-mails are written back in groups (one write per ``SENT_FLUSH_EVERY``), so
    the database's commit latency is not paid once per recipient.
    """
    rows = _claim(notification_ids)
    outcome = {"sent": 0, "retry": 0, "failed": 0, "skipped": len(notification_ids) - len(rows)}
    sent: list[Notification] = []
    try:
        _send_rows(rows, outcome, sent)
    finally:
        _flush_sent(sent)
    return outcome


def _send_rows(rows: list[Notification], outcome: dict, sent: list[Notification]) -> None:
    connection = None
    cache: dict = {}
    try:
        for notification in rows:
            destination = notification.destination
            if destination.status == DestinationStatus.PERMANENTLY_FAILED:
                _finish(notification, DeliveryStatus.SKIPPED, error=destination.last_error)
                outcome["skipped"] += 1
                continue
            try:
                if connection is None:
                    connection = get_connection(fail_silently=False)
                    connection.open()
                connection.send_messages([_email(notification, cache)])
            except (smtplib.SMTPException, OSError) as error:
                permanent, code, text = smtp_failure(error)
                if not isinstance(error, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
                    connection = _drop(connection)
                if permanent:
                    _finish(notification, DeliveryStatus.FAILED, error=text, code=code)
                    _mark_failed(destination, text)
                    outcome["failed"] += 1
                elif isinstance(error, _MESSAGE_REFUSALS) and message_too_large(
                    code=code, text=text.split(" ", 1)[-1]
                ):
                    # Refused for its size, at MAIL FROM (SIZE=n), RCPT or DATA: the same
                    # message would be refused again, and the address is not at fault.
                    _finish(notification, DeliveryStatus.FAILED, error=text, code=code)
                    outcome["failed"] += 1
                elif notification.attempt >= settings.ALERTS_EMAIL_MAX_ATTEMPTS:
                    _finish(notification, DeliveryStatus.FAILED, error=text + GAVE_UP, code=code)
                    outcome["failed"] += 1
                elif not retries_can_wait():
                    _finish(
                        notification, DeliveryStatus.FAILED, error=text + NOT_RETRIED, code=code
                    )
                    outcome["failed"] += 1
                else:
                    _finish(notification, DeliveryStatus.RETRY_SCHEDULED, error=text, code=code)
                    _retry_email(notification)
                    outcome["retry"] += 1
                logger.warning(
                    "alert e-mail %s attempt %s: %s", notification.pk, notification.attempt, text
                )
                continue
            except Exception as error:  # a bug must not strand the rest of the batch
                logger.exception("alert e-mail %s could not be built or sent", notification.pk)
                _finish(
                    notification, DeliveryStatus.FAILED, error=f"{type(error).__name__}: {error}"
                )
                connection = _drop(connection)
                outcome["failed"] += 1
                continue
            notification.status = DeliveryStatus.SENT
            notification.sent_at = timezone.now()
            sent.append(notification)
            if len(sent) >= SENT_FLUSH_EVERY:
                _flush_sent(sent)
            outcome["sent"] += 1
    finally:
        _drop(connection)


def _drop(connection):
    if connection is not None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - a dead connection may fail to say goodbye
            logger.debug("closing the SMTP connection failed", exc_info=True)
    return None


def _finish(notification: Notification, status: str, *, error: str = "", code=None, sent_at=None):
    notification.status = status
    notification.error = error[:2000]
    notification.smtp_code = code
    notification.sent_at = sent_at
    notification.save(update_fields=["status", "error", "smtp_code", "sent_at"])


def _mark_failed(destination: EmailDestination, text: str) -> None:
    EmailDestination.objects.filter(pk=destination.pk).update(
        status=DestinationStatus.PERMANENTLY_FAILED,
        last_error=text[:2000],
        failed_at=timezone.now(),
        updated_at=timezone.now(),
    )


def _retry_email(notification: Notification) -> None:
    delay = backoff_seconds(notification.attempt)
    retry = Notification.objects.create(
        alert=notification.alert,
        destination=notification.destination,
        attempt=notification.attempt + 1,
        address=notification.address,
        subject=notification.subject,
        message_id=notification.message_id,
        in_reply_to=notification.in_reply_to,
        references=notification.references,
        not_before=timezone.now() + timezone.timedelta(seconds=delay),
    )

    def queue() -> None:
        from apps.alerts import tasks

        tasks.send_emails.apply_async(args=[[retry.pk]], countdown=delay)

    _queue_after_commit(queue)


# --- Webhooks -------------------------------------------------------------------------------


def _non_public_ip(text: str) -> bool:
    """True for an IP address that is not a public unicast one (loopback, private,
    link-local such as cloud metadata, shared, reserved, multicast, unspecified)."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return not ip.is_global or ip.is_multicast


def _webhook_host(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".").lower()


def _named_host_refusal(host: str) -> str:
    """Why ``host`` as written (``localhost`` or a non-public IP address) is refused, before
    any look-up ('' when it is not)."""
    if host == "localhost" or host.endswith(".localhost") or _non_public_ip(host):
        return (
            f"{host} is a private, loopback or link-local address; give the public address "
            "of your dispatch system."
        )
    return ""


@dataclass(frozen=True)
class VettedAddresses:
    """The outcome of one look-up of a webhook's host: ``refusal`` ('' when allowed) and
    the ``addresses`` the POST may connect to (empty when the look-up failed:
    ``lookup_error`` says why)."""

    refusal: str = ""
    addresses: tuple[str, ...] = ()
    lookup_error: str = ""


def webhook_address_vet(*, url: str, resolve: Callable | None = None) -> VettedAddresses:
    """Look the host of ``url`` up once and vet every answer.

    The POST then connects to these addresses only (``apps.alerts.pinned_http``): a
    second look-up by the HTTP client could answer differently (DNS rebinding).
    ``resolve`` is ``socket.getaddrinfo``'s signature (tests inject one).
    """
    resolve = resolve or socket.getaddrinfo
    allow_private = settings.ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES
    parts = urlsplit(url)
    host = _webhook_host(url)
    if not allow_private and (refusal := _named_host_refusal(host)):
        return VettedAddresses(refusal=refusal)
    if not host:
        return VettedAddresses(lookup_error="The URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = resolve(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as error:
        return VettedAddresses(lookup_error=f"Looking up {host} failed: {error}")
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        return VettedAddresses(lookup_error=f"Looking up {host} gave no address.")
    if not allow_private and any(_non_public_ip(address) for address in addresses):
        return VettedAddresses(
            refusal=f"{host} resolves to a private, loopback or link-local address."
        )
    return VettedAddresses(addresses=addresses)


def webhook_address_refusal(*, url: str) -> str:
    """Why an endpoint may not be saved with ``url`` ('' when it may).

    An agency super user chooses the URL and reads the response excerpt in the delivery
    log, so a URL reaching this server or its private network (loopback, private and
    link-local addresses, cloud metadata) would let a customer probe and read internal
    services. Refused unless ``ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is on (a
    self-hosted server whose CAD is on its own network). Only the host as written is
    judged here; every attempt looks the name up and vets its addresses
    (``webhook_address_vet``).
    """
    if settings.ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return ""
    return _named_host_refusal(_webhook_host(url))


def _validate_endpoint(*, url: str, event_types: list[str], name: str) -> None:
    from django.core.validators import URLValidator

    errors = {}
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        errors["url"] = "Enter a full http(s) URL."
    else:
        if url.startswith("http://") and not settings.ALERTS_WEBHOOK_ALLOW_HTTP:
            errors["url"] = "Use https:// (plain http is allowed only when configured)."
        elif refusal := webhook_address_refusal(url=url):
            errors["url"] = refusal
    if not event_types or set(event_types) - set(EVENT_TYPES.values()):
        errors["event_types"] = "Choose one or more of: " + ", ".join(EVENT_TYPES.values()) + "."
    if not name.strip():
        errors["name"] = "Give the endpoint a name."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def webhook_endpoint_create(
    *, actor: User, name: str, url: str, event_types: list[str], request=None
) -> WebhookEndpoint:
    _validate_endpoint(url=url, event_types=event_types, name=name)
    if WebhookEndpoint.objects.filter(agency=actor.agency, name=name.strip()).exists():
        raise ValidationError({"name": "Your agency already has an endpoint with this name."})
    endpoint = WebhookEndpoint.objects.create(
        agency=actor.agency,
        name=name.strip(),
        url=url,
        secret=new_secret(),
        event_types=sorted(set(event_types)),
        created_by=actor,
    )
    record_event(
        action="alerts.webhook_created",
        actor=actor,
        agency=actor.agency,
        target=endpoint,
        request=request,
        details={"url": url, "event_types": endpoint.event_types},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: User,
    name: str,
    url: str,
    event_types: list[str],
    active: bool,
    request=None,
) -> WebhookEndpoint:
    _validate_endpoint(url=url, event_types=event_types, name=name)
    clash = WebhookEndpoint.objects.filter(agency=endpoint.agency, name=name.strip()).exclude(
        pk=endpoint.pk
    )
    if clash.exists():
        raise ValidationError({"name": "Your agency already has an endpoint with this name."})
    endpoint.name = name.strip()
    endpoint.url = url
    endpoint.event_types = sorted(set(event_types))
    endpoint.active = active
    endpoint.save()
    record_event(
        action="alerts.webhook_updated",
        actor=actor,
        agency=endpoint.agency,
        target=endpoint,
        request=request,
        details={"url": url, "event_types": endpoint.event_types, "active": active},
    )
    return endpoint


def webhook_secret_rotate(*, endpoint: WebhookEndpoint, actor: User, request=None) -> str:
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    record_event(
        action="alerts.webhook_secret_rotated",
        actor=actor,
        agency=endpoint.agency,
        target=endpoint,
        request=request,
    )
    return endpoint.secret


def webhook_test_send(*, endpoint: WebhookEndpoint, actor: User, request=None) -> WebhookDelivery:
    """Queue one signed POST of a ``test`` event to the endpoint (audited).

    It goes the way alerts go (same signature, headers and address checks) and is in the
    endpoint's delivery log, so a super user can check the dispatch system accepts the
    current secret before a real alert depends on it. It is sent even to an inactive
    endpoint and never retried.
    """
    event_id = new_event_id()
    body = json.dumps(
        {
            "id": event_id,
            "type": TEST_EVENT,
            "created": timezone.now().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "sequence": None,
            "change": None,
            "cap_identifier": None,
            "incident": None,
            "endpoint": endpoint.name,
            "agency": endpoint.agency.system_id,
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, message=None, url=endpoint.url, request_body=body
        )
        record_event(
            action="alerts.webhook_test_sent",
            actor=actor,
            agency=endpoint.agency,
            target=endpoint,
            request=request,
            details={"url": endpoint.url, "delivery_id": str(delivery.delivery_id)},
        )
        delivery_pk = delivery.pk

        def queue() -> None:
            from apps.alerts import tasks

            tasks.deliver_webhook.delay(delivery_pk)

        _queue_after_commit(queue)
    return delivery


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: User, request=None) -> None:
    record_event(
        action="alerts.webhook_deleted",
        actor=actor,
        agency=endpoint.agency,
        target=endpoint,
        request=request,
        details={"url": endpoint.url},
    )
    endpoint.delete()


def webhook_deliver(*, delivery_id: int, resolve: Callable | None = None) -> WebhookDelivery | None:
    """POST one delivery attempt, record the response, queue the next attempt if due.

    The host is looked up once (``resolve``, default ``socket.getaddrinfo``); the POST
    connects to exactly the addresses that were vetted, never to a second answer."""
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "message").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.active and delivery.message_id is not None:  # a test is sent anyway
        delivery.status = DeliveryStatus.SKIPPED
        delivery.error = ENDPOINT_DEACTIVATED
        delivery.finished_at = timezone.now()
        delivery.save()
        return delivery
    vetted = webhook_address_vet(url=delivery.url, resolve=resolve)
    if vetted.refusal:  # never sent, never retried: the URL is not a public receiver
        delivery.status = DeliveryStatus.FAILED
        delivery.error = f"{NOT_SENT}{vetted.refusal}"[:2000]
        delivery.finished_at = timezone.now()
        delivery.save()
        return delivery
    body = delivery.request_body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"ShotSpotterOpen-Webhooks/{settings.APP_VERSION}",
        SIGNATURE_HEADER: signature_header(secret=endpoint.secret, timestamp=timestamp, body=body),
        "X-ShotSpotter-Event": delivery.event_type,
        "X-ShotSpotter-Delivery": str(delivery.delivery_id),
        "X-ShotSpotter-Attempt": str(delivery.attempt),
    }
    started = time.perf_counter()
    retry = False
    try:
        if vetted.lookup_error:
            raise requests.ConnectionError(vetted.lookup_error)
        response = pinned_post(
            delivery.url,
            addresses=vetted.addresses,
            data=body,
            headers=headers,
            timeout=settings.ALERTS_WEBHOOK_TIMEOUT_S,
        )
    except requests.RequestException as error:
        delivery.error = f"{type(error).__name__}: {error}"[:2000]
        retry = True
    else:
        delivery.response_status = response.status_code
        delivery.response_excerpt = response.text[:EXCERPT_CHARS]
        if 200 <= response.status_code < 300:
            delivery.status = DeliveryStatus.SENT
        else:
            delivery.error = f"HTTP {response.status_code}"
            retry = response.status_code >= 500 or response.status_code in RETRY_HTTP_STATUSES
            if not retry:
                delivery.status = DeliveryStatus.FAILED
    delivery.duration_ms = round((time.perf_counter() - started) * 1000.0, 2)
    delivery.finished_at = timezone.now()
    if retry:
        if delivery.message_id is None:  # a test delivery: one attempt, its result shown
            delivery.status = DeliveryStatus.FAILED
        elif delivery.attempt >= settings.ALERTS_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.error += GAVE_UP
        elif not retries_can_wait():
            delivery.status = DeliveryStatus.FAILED
            delivery.error += NOT_RETRIED
        else:
            delivery.status = DeliveryStatus.RETRY_SCHEDULED
    delivery.save()
    if delivery.status == DeliveryStatus.RETRY_SCHEDULED:
        _retry_webhook(delivery)
    return delivery


def _retry_webhook(delivery: WebhookDelivery) -> None:
    delay = backoff_seconds(delivery.attempt)
    retry = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        message=delivery.message,
        delivery_id=delivery.delivery_id,
        attempt=delivery.attempt + 1,
        url=delivery.url,
        request_body=delivery.request_body,
        not_before=timezone.now() + timezone.timedelta(seconds=delay),
    )

    def queue() -> None:
        from apps.alerts import tasks

        tasks.deliver_webhook.apply_async(args=[retry.pk], countdown=delay)

    _queue_after_commit(queue)


def requeue_stalled(*, older_than_s: int = 120) -> int:
    """Queue again work whose task never ran (e.g. the broker was down at commit time):
    messages without their e-mails made, and pending e-mails and webhook POSTs.

    A row left in "sending" (a worker died during the SMTP or HTTP exchange) is not
    resent blindly; it stays visible on the delivery pages.
    """
    from apps.alerts import tasks

    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_s)
    messages = list(
        AlertMessage.objects.filter(emails_created_at__isnull=True, sent_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:100]
    )
    emails = list(
        Notification.objects.filter(
            status=DeliveryStatus.PENDING, not_before__lt=cutoff
        ).values_list("pk", flat=True)[:5000]
    )
    hooks = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, not_before__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    )
    for delivery_id in hooks:
        tasks.deliver_webhook.delay(delivery_id)
    for message_id in messages:
        tasks.create_emails.delay(message_id)
    size = settings.ALERTS_EMAIL_BATCH_SIZE
    for start in range(0, len(emails), size):
        tasks.send_emails.delay(emails[start : start + size])
    return len(messages) + len(emails) + len(hooks)


def new_event_id() -> str:
    return str(uuid.uuid4())
