"""Alert e-mails through a real SMTP server (aiosmtpd): content, retries, failures, threads."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.alerts.models import (
    AlertMessage,
    DeliveryStatus,
    DestinationStatus,
    EmailDestination,
    Notification,
)
from tests.alerts.support import agency_with_geography, published_incident, siren_user
from tests.factories import AgencyFactory, UserFactory, login_verified
from tests.sensor_agent.support import free_port

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 6, 10, 4, 30, tzinfo=dt.UTC)  # 23:30 CDT on June 9


@pytest.fixture
def scene():
    agency, area, districts, beats = agency_with_geography()
    incident = published_incident(area=area, beat=beats["12"], at=AT, rounds=5)
    return agency, area, beats, incident


def test_publish_emails_matching_users_with_html_and_text(smtp_server, publish, scene):
    agency, area, beats, incident = scene
    siren_user(
        agency=agency,
        email="night@example.org",
        subscription={"time_windows": [["22:00", "06:00"]]},
    )
    siren_user(agency=agency, email="beat11@example.org", beats=[beats["11"]])

    publish(incident)

    assert [m["To"] for m in smtp_server.messages] == ["night@example.org"]
    message = smtp_server.messages[0]
    reference = f"417-{incident.number}"
    # Django folds an encoded subject onto a continuation line; clients drop the fold.
    assert message["Subject"].strip() == (
        f"Multiple gunshots (5 rounds) — 1200 block of W Main St, Beat 12 — #{reference}"
    )
    text = smtp_server.body(message, "plain")
    html = smtp_server.body(message, "html")
    link = f"https://siren.example.org/incident/417/{incident.number}"
    for body in (text, html):
        assert link in body
        # Agency time as people read it (it read "2026-06-09T23:30:00-05:00").
        assert "Tue 2026-06-09 23:30:00 CDT (America/Chicago)" in body
        assert "2026-06-09T23:30:00-05:00" not in body
        assert "1200 block of W Main St" in body
        assert "District 1" in body and "12" in body
        assert f"{incident.latitude:.6f}"[:8] in body
        assert "openstreetmap.org/?mlat=" in body
    assert "Rounds:          5" in text
    row = Notification.objects.get()
    assert row.status == DeliveryStatus.SENT and row.attempt == 1 and row.sent_at is not None
    assert row.message_id == message["Message-ID"]
    assert row.kind == "publish"


def test_transient_451_is_retried_and_then_delivered(smtp_server, publish, scene):
    agency, area, beats, incident = scene
    siren_user(agency=agency, email="officer@example.org")
    smtp_server.data_replies.append("451 4.3.0 Mailbox busy, try again later")

    publish(incident)

    assert len(smtp_server.refused) == 1 and smtp_server.refused[0][1].startswith("451")
    assert [m["To"] for m in smtp_server.messages] == ["officer@example.org"]
    first, second = Notification.objects.order_by("attempt")
    assert (first.attempt, first.status, first.smtp_code) == (
        1,
        DeliveryStatus.RETRY_SCHEDULED,
        451,
    )
    assert "try again later" in first.error
    assert (second.attempt, second.status) == (2, DeliveryStatus.SENT)
    assert second.not_before > first.created_at  # scheduled with backoff
    assert first.message_id == second.message_id == smtp_server.messages[0]["Message-ID"]
    assert EmailDestination.objects.get().status == DestinationStatus.OK


def test_unreachable_server_is_transient_and_gives_up_after_max_attempts(settings, publish, scene):
    agency, area, beats, incident = scene
    port = free_port()  # nothing listens there
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.ALERTS_EMAIL_MAX_ATTEMPTS = 3
    siren_user(agency=agency, email="officer@example.org")

    publish(incident)

    rows = list(Notification.objects.order_by("attempt"))
    assert [r.status for r in rows] == [
        DeliveryStatus.RETRY_SCHEDULED,
        DeliveryStatus.RETRY_SCHEDULED,
        DeliveryStatus.FAILED,
    ]
    assert all("ConnectionRefusedError" in r.error for r in rows)
    assert rows[-1].error.endswith("(gave up)")
    # A dead server says nothing about the address.
    assert EmailDestination.objects.get().status == DestinationStatus.OK


def test_permanent_550_is_recorded_marks_the_address_and_later_alerts_skip_it(
    smtp_server, publish, scene, client
):
    agency, area, beats, incident = scene
    siren_user(agency=agency, email="gone@example.org")
    siren_user(agency=agency, email="fine@example.org")
    smtp_server.rcpt_replies["gone@example.org"] = "550 5.1.1 <gone@example.org>: No such user"

    publish(incident)

    assert [m["To"] for m in smtp_server.messages] == ["fine@example.org"]
    failed = Notification.objects.get(address="gone@example.org")
    assert failed.status == DeliveryStatus.FAILED and failed.smtp_code == 550
    assert "No such user" in failed.error
    assert Notification.objects.filter(address="gone@example.org").count() == 1  # no retry
    destination = EmailDestination.objects.get(address="gone@example.org")
    assert destination.status == DestinationStatus.PERMANENTLY_FAILED
    assert "550" in destination.last_error and destination.failed_at is not None

    second = published_incident(area=area, beat=beats["11"], at=AT + dt.timedelta(hours=1))
    publish(second)
    skipped = Notification.objects.get(address="gone@example.org", alert__incident=second)
    assert skipped.status == DeliveryStatus.SKIPPED
    assert len(smtp_server.refused) == 1  # never tried again


def test_updates_and_cancel_follow_up_in_the_same_thread(smtp_server, publish, scene):
    agency, area, beats, incident = scene
    siren_user(agency=agency, email="officer@example.org")
    siren_user(agency=agency, email="quiet@example.org", subscription={"send_updates": False})

    publish(incident)
    first = {m["To"]: m for m in smtp_server.messages}
    smtp_server.clear()
    publish(incident, "update", "reclassified")
    publish(incident, "update", "comment")
    publish(incident, "cancel")

    followups = smtp_server.messages
    assert [m["To"] for m in followups] == ["officer@example.org"] * 3
    root = first["officer@example.org"]["Message-ID"]
    original = first["officer@example.org"]["Subject"].strip()
    for message in followups:
        assert message["In-Reply-To"] == root
        assert message["References"].split()[0] == root
        assert message["Message-ID"] != root
    # A reclassification and a cancel say so in the subject; a comment is a plain reply.
    assert [m["Subject"].strip() for m in followups] == [
        "UPDATED: " + original,  # the fixture reclassifies to the same type
        "Re: " + original,
        "CANCELLED: " + original,
    ]
    assert len({m["Message-ID"] for m in followups}) == 3
    assert followups[2]["References"].split() == [
        root,
        followups[0]["Message-ID"],
        followups[1]["Message-ID"],
    ]
    assert "UPDATED: reclassified as Multiple gunshots." in smtp_server.body(followups[0])
    assert "CANCELLED" in smtp_server.body(followups[2])
    assert list(AlertMessage.objects.values_list("kind", flat=True)) == [
        "publish",
        "update",
        "update",
        "cancel",
    ]


def test_follow_ups_go_only_to_users_still_in_the_incidents_agency(smtp_server, publish, scene):
    """A platform administrator may move an account to another agency (or deactivate it)
    after it got the publish e-mail: the incident's updates are then no longer its data."""
    agency, area, beats, incident = scene
    moved = siren_user(agency=agency, email="moved@example.org")
    siren_user(agency=agency, email="stays@example.org")
    gone = siren_user(agency=agency, email="gone@example.org")
    publish(incident)
    assert len(smtp_server.messages) == 3
    smtp_server.clear()
    moved.agency = AgencyFactory(system_id="555")
    moved.save(update_fields=["agency"])
    gone.is_active = False
    gone.save(update_fields=["is_active"])

    publish(incident, "update", "comment")
    publish(incident, "cancel")

    assert [m["To"] for m in smtp_server.messages] == ["stays@example.org"] * 2


def test_a_redelivered_task_does_not_send_twice(
    smtp_server, scene, django_capture_on_commit_callbacks
):
    from apps.alerts import tasks

    agency, area, beats, incident = scene
    siren_user(agency=agency, email="officer@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.record_message.delay("0b6f1d9e-1111-4a4a-9a9a-123456789abc", incident.pk, "publish")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.record_message.delay("0b6f1d9e-1111-4a4a-9a9a-123456789abc", incident.pk, "publish")
    assert len(smtp_server.messages) == 1
    assert AlertMessage.objects.count() == 1


def test_through_the_review_services(smtp_server, scene, django_capture_on_commit_callbacks):
    """The real publish path: a reviewer claims and decides; then comments."""
    from apps.incidents.models import IncidentStatus
    from apps.review import services as review
    from tests.factories import UserFactory

    agency, area, beats, incident = scene
    incident.status = IncidentStatus.PENDING_REVIEW
    incident.published_at = None
    incident.save()
    siren_user(agency=agency, email="officer@example.org")
    reviewer = UserFactory(irc_reviewer=True)

    with django_capture_on_commit_callbacks(execute=True):
        review.claim(reviewer=reviewer, incident_id=incident.pk)
        review.decide(
            reviewer=reviewer, incident_id=incident.pk, decision="multiple_gunshots", rounds=6
        )
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0]["Subject"].strip().startswith("Multiple gunshots (6 rounds) — ")
    with django_capture_on_commit_callbacks(execute=True):
        review.add_comment(author=reviewer, incident_id=incident.pk, text="Shots near the park.")
    assert len(smtp_server.messages) == 2
    assert smtp_server.messages[1]["In-Reply-To"] == smtp_server.messages[0]["Message-ID"]


@pytest.mark.django_db(transaction=True)
def test_bench_alerts_command_reports_percentiles(capsys):
    """The benchmark runs end to end on a few recipients (real commits, real servers)."""
    from django.core.management import call_command

    call_command("bench_alerts", recipients=5, current_database=True)
    out = capsys.readouterr().out
    assert "e-mails accepted by SMTP: 5 of 5" in out and "webhooks received: 1" in out
    assert "publish -> e-mail accepted: p50" in out and "p95" in out


def test_work_whose_task_was_lost_is_queued_again(
    smtp_server, scene, django_capture_on_commit_callbacks
):
    """The broker was down at commit: nothing was queued; the beat task picks it up."""
    from apps.alerts import services
    from apps.alerts.models import WebhookDelivery
    from tests.factories import UserFactory

    agency, area, beats, incident = scene
    siren_user(agency=agency, email="officer@example.org")
    boss = UserFactory(super_user=True, agency=agency)
    services.webhook_endpoint_create(
        actor=boss, name="CAD", url="http://127.0.0.1:9/x", event_types=["incident.published"]
    )
    # Made in the test's transaction: the on-commit queueing never happens.
    message = services.alert_message_record(
        event_uuid=services.new_event_id(), incident_id=incident.pk, kind="publish"
    )
    assert message.emails_created_at is None and not smtp_server.messages
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING

    assert services.requeue_stalled(older_than_s=60) == 0  # too recent to be lost
    with django_capture_on_commit_callbacks(execute=True):
        queued = services.requeue_stalled(older_than_s=-60)
    assert queued == 2  # the message's e-mails and the webhook POST
    assert [m["To"] for m in smtp_server.messages] == ["officer@example.org"]
    assert WebhookDelivery.objects.filter(attempt=1).get().status != DeliveryStatus.PENDING


def test_a_line_break_in_the_address_cannot_forge_headers(smtp_server, publish, scene):
    agency, area, beats, incident = scene
    incident.nearest_address = "12 Main St\r\nBcc: everyone@example.org"
    incident.save()
    siren_user(agency=agency, email="officer@example.org")
    publish(incident)
    (message,) = smtp_server.messages
    assert message["Bcc"] is None and smtp_server.envelopes[0].rcpt_tos == ["officer@example.org"]
    assert "12 Main St Bcc: everyone@example.org" in message["Subject"]


def _alerted_by_a_reviewer(*, scene, smtp_server, rounds, django_capture_on_commit_callbacks):
    """An officer alerted by a reviewer's "multiple gunshots" decision: (reviewer, the
    alert e-mail); the SMTP server's inbox is emptied for what follows."""
    from apps.incidents.models import IncidentStatus
    from apps.review import services as review
    from tests.factories import UserFactory

    agency, area, beats, incident = scene
    siren_user(agency=agency, email="officer@example.org")
    incident.status = IncidentStatus.PENDING_REVIEW
    incident.published_at = None
    incident.save()
    reviewer = UserFactory(irc_reviewer=True)
    with django_capture_on_commit_callbacks(execute=True):
        review.claim(reviewer=reviewer, incident_id=incident.pk)
        review.decide(
            reviewer=reviewer, incident_id=incident.pk, decision="multiple_gunshots", rounds=rounds
        )
    (first,) = smtp_server.messages
    smtp_server.clear()
    return reviewer, first


def test_a_cancel_says_cancelled_in_subject_and_body_with_the_reason(
    smtp_server, scene, django_capture_on_commit_callbacks
):
    """Reclassified as not gunfire: the follow-up read "Re: Multiple gunshots (15 rounds…)",
    "Type: Multiple gunshots" and no reason, so it hid that the alert was withdrawn."""
    from apps.review import services as review

    incident = scene[3]
    reviewer, first = _alerted_by_a_reviewer(
        scene=scene,
        smtp_server=smtp_server,
        rounds=15,
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=True):
        review.reclassify(
            reviewer=reviewer,
            incident_id=incident.pk,
            decision="not_gunfire",
            not_gunfire_reason="firework",
            reason="Fireworks show at the park, seen on camera",
        )

    (cancel,) = smtp_server.messages
    subject = cancel["Subject"].strip()
    assert subject.startswith("CANCELLED: Multiple gunshots (15 rounds) — ")
    assert subject.endswith(f"#417-{incident.number}")
    assert cancel["In-Reply-To"] == first["Message-ID"]
    assert cancel["References"].split()[0] == first["Message-ID"]
    text = smtp_server.body(cancel, "plain")
    html = smtp_server.body(cancel, "html")
    assert text.splitlines()[0].startswith("CANCELLED:")
    assert "not gunfire" in text.splitlines()[0]
    for body in (text, html):
        assert "Fireworks show at the park, seen on camera" in body
        assert "Multiple gunshots" not in body.split("Type")[1].split("\n")[0]
    assert "Type:            Not gunfire (Firework)" in text
    assert "<td>Not gunfire (Firework)</td>" in html
    assert html.index("CANCELLED") < html.index("<h1>")


def test_a_reclassification_says_updated_with_the_new_type(
    smtp_server, scene, django_capture_on_commit_callbacks
):
    from apps.review import services as review

    incident = scene[3]
    reviewer, first = _alerted_by_a_reviewer(
        scene=scene,
        smtp_server=smtp_server,
        rounds=3,
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=True):
        review.reclassify(
            reviewer=reviewer,
            incident_id=incident.pk,
            decision="single_gunshot",
            rounds=1,
            reason="Echoes off the warehouse",
        )
        review.add_comment(author=reviewer, incident_id=incident.pk, text="Shots near the park.")

    update, comment = smtp_server.messages
    assert update["Subject"].strip().startswith("UPDATED: Single gunshot — ")
    assert update["In-Reply-To"] == first["Message-ID"]
    text = smtp_server.body(update, "plain")
    first_line = text.splitlines()[0]
    assert first_line.startswith("UPDATED:")
    assert "Single gunshot" in first_line and "Multiple gunshots" in first_line
    assert "Echoes off the warehouse" in text
    assert "Type:            Single gunshot" in text
    # A comment is not a change of what was alerted: it stays a plain reply.
    assert comment["Subject"].strip() == "Re: " + first["Subject"].strip()


def test_in_embedded_mode_a_failure_is_recorded_and_not_retried(settings, publish, scene):
    """Under make run tasks run in-process and a retry's countdown was ignored: a refused
    SMTP connection was tried ALERTS_EMAIL_MAX_ATTEMPTS times in a row. Now once."""
    agency, area, beats, incident = scene
    settings.ALERTS_RETRY_WHEN_EAGER = False  # make run's default (the suite turns it on)
    port = free_port()  # nothing listens there
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    siren_user(agency=agency, email="officer@example.org")

    publish(incident)

    row = Notification.objects.get()
    assert (row.attempt, row.status) == (1, DeliveryStatus.FAILED)
    assert "ConnectionRefusedError" in row.error
    assert row.error.endswith("(not retried: tasks run in-process)")


REFUSED = (
    "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown in local "
    "recipient table"
)


def test_the_deliveries_page_says_what_failed_in_words_and_keeps_the_raw_error(
    smtp_server, publish, scene, client
):
    """The page showed the server's raw reply ("550 5.1.1 <gone@…>: Recipient address
    rejected: …") or a Python exception; now one sentence per failure kind."""
    agency, area, beats, incident = scene
    boss = UserFactory(super_user=True, agency=agency)
    siren_user(agency=agency, email="gone@example.org")
    smtp_server.rcpt_replies["gone@example.org"] = REFUSED
    publish(incident)
    siren_user(agency=agency, email="fine@example.org")
    smtp_server.mail_replies += [
        "553 5.1.8 <alerts@siren.example.org>: Sender address rejected: Domain not found",
        "552 Error: message size exceeds fixed maximum message size",  # aiosmtpd's own
    ]
    publish(published_incident(area=area, beat=beats["11"], at=AT + dt.timedelta(hours=1)))

    refused = Notification.objects.get(address="gone@example.org", alert__incident=incident)
    assert (refused.status, refused.smtp_code, refused.error) == (
        DeliveryStatus.FAILED,
        550,
        REFUSED,  # stored as the server said it
    )
    assert EmailDestination.objects.get(address="gone@example.org").last_error == REFUSED
    fine = list(Notification.objects.filter(address="fine@example.org").order_by("attempt"))
    assert [(r.status, r.smtp_code) for r in fine] == [
        (DeliveryStatus.RETRY_SCHEDULED, 553),
        (DeliveryStatus.FAILED, 552),  # too large: not retried
    ]
    assert fine[0].error.startswith("553 5.1.8 <alerts@siren.example.org>")

    login_verified(client, boss)
    page = client.get("/alerts/agency/deliveries/").content.decode()
    recipient = (
        "The mail server refused the recipient address (SMTP 550 5.1.1: Recipient address "
        "rejected: User unknown in local recipient table); no alerts go to it until "
        "someone clicks “Address works again”."
    )
    assert page.count(recipient) == 2  # the address table and its attempt
    assert (
        "Not sent: this address refused mail permanently before (SMTP 550 5.1.1: Recipient "
        "address rejected: User unknown in local recipient table)." in page
    )
    assert (
        "The mail server refused the sender address (SMTP 553 5.1.8: Sender address rejected: "
        "Domain not found). The address is not at fault: platform staff must fix the mail "
        "settings." in page
    )
    assert (
        "The mail server refused the message as too large (SMTP 552: Error: message size "
        "exceeds fixed maximum message size)." in page
    )
    assert "&lt;gone@example.org&gt;:" not in page and "&lt;alerts@" not in page


def test_the_deliveries_page_says_the_mail_server_refused_the_connection(
    settings, publish, scene, client
):
    agency, area, beats, incident = scene
    port = free_port()  # nothing listens there
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.ALERTS_EMAIL_MAX_ATTEMPTS = 2
    boss = UserFactory(super_user=True, agency=agency)
    siren_user(agency=agency, email="officer@example.org")

    publish(incident)

    last = Notification.objects.get(attempt=2)
    assert last.error.startswith("ConnectionRefusedError: [Errno 111]")
    login_verified(client, boss)
    page = client.get("/alerts/agency/deliveries/").content.decode()
    refused = (
        "Connection refused by the mail server: nothing accepts connections at that port. "
        "The address is not at fault: platform staff must fix the mail settings."
    )
    assert page.count(refused) == 2
    assert refused + " Gave up after 2 attempts." in page
    assert "Errno" not in page and "ConnectionRefusedError" not in page


def test_a_message_refused_as_too_large_fails_once_and_leaves_the_address_working(
    smtp_server, publish, scene, client
):
    """A 552 5.3.4 at DATA is about this message, not the mailbox: the address was marked
    permanently failed and got no alerts until someone reset it."""
    agency, area, beats, incident = scene
    boss = UserFactory(super_user=True, agency=agency)
    siren_user(agency=agency, email="officer@example.org")
    smtp_server.data_replies.append("552 5.3.4 Message size exceeds fixed limit")

    publish(incident)

    (row,) = Notification.objects.filter(address="officer@example.org")
    assert (row.status, row.smtp_code, row.attempt) == (DeliveryStatus.FAILED, 552, 1)
    destination = EmailDestination.objects.get(address="officer@example.org")
    assert destination.status == DestinationStatus.OK, destination.last_error
    publish(published_incident(area=area, beat=beats["11"], at=AT + dt.timedelta(hours=1)))
    assert [m["To"] for m in smtp_server.messages] == ["officer@example.org"]

    login_verified(client, boss)
    page = client.get("/alerts/agency/deliveries/").content.decode()
    assert "refused the message as too large (SMTP 552 5.3.4: Message size exceeds" in page
    assert "no alerts go to it" not in page


@pytest.mark.parametrize(
    "refuse",
    [
        # aiosmtpd's own check: it advertises SIZE, the client sends MAIL FROM:<...> SIZE=n.
        pytest.param(lambda sink: setattr(sink, "size_limit", 2000), id="SIZE-limit"),
        pytest.param(
            lambda sink: sink.mail_replies.append(
                "552 5.3.4 Message size exceeds fixed maximum message size"
            ),
            id="MAIL-552-5.3.4",
        ),
        pytest.param(
            lambda sink: sink.rcpt_replies.update(
                {"officer@example.org": "552 5.3.4 Message size exceeds fixed maximum message size"}
            ),
            id="RCPT-552-5.3.4",
        ),
    ],
)
def test_a_message_refused_for_its_size_before_data_fails_once_and_leaves_the_address_working(
    smtp_server, publish, scene, client, refuse
):
    """Refused at MAIL FROM (SIZE=n) or RCPT rather than at DATA, it was retried
    ALERTS_EMAIL_MAX_ATTEMPTS times (the same size each time); now it fails once, like at
    DATA, and the address keeps receiving alerts."""
    agency, area, beats, incident = scene
    boss = UserFactory(super_user=True, agency=agency)
    siren_user(agency=agency, email="officer@example.org")
    refuse(smtp_server)

    publish(incident)

    (row,) = Notification.objects.filter(address="officer@example.org")
    assert (row.status, row.smtp_code, row.attempt) == (DeliveryStatus.FAILED, 552, 1)
    assert "size exceeds fixed maximum message size" in row.error  # the server's reply
    assert smtp_server.messages == []
    destination = EmailDestination.objects.get(address="officer@example.org")
    assert destination.status == DestinationStatus.OK, destination.last_error

    smtp_server.size_limit = None
    smtp_server.rcpt_replies.clear()
    publish(published_incident(area=area, beat=beats["11"], at=AT + dt.timedelta(hours=1)))
    assert [m["To"] for m in smtp_server.messages] == ["officer@example.org"]
    (envelope,) = smtp_server.envelopes
    assert any(option.startswith("SIZE=") for option in envelope.mail_options)

    login_verified(client, boss)
    page = client.get("/alerts/agency/deliveries/").content.decode()
    assert "refused the message as too large (SMTP 552" in page
    assert "Gave up" not in page and "no alerts go to it" not in page


def test_a_server_short_of_storage_at_mail_from_is_still_retried(smtp_server, publish, scene):
    """452 4.3.1 (RFC 1870: no room for a message of that SIZE now) is the server's
    passing shortage, not the message's size: it is retried."""
    agency, area, beats, incident = scene
    siren_user(agency=agency, email="officer@example.org")
    smtp_server.mail_replies.append("452 4.3.1 Insufficient system storage")

    publish(incident)

    rows = Notification.objects.filter(address="officer@example.org").order_by("attempt")
    assert [(r.status, r.smtp_code) for r in rows] == [
        (DeliveryStatus.RETRY_SCHEDULED, 452),
        (DeliveryStatus.SENT, None),
    ]
