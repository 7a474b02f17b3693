"""Benchmark: publish one incident to N Siren recipients and a dispatch webhook.

    python manage.py bench_alerts [--recipients 500] [--batch-size 50]

Runs in a throw-away test database (never the configured one) with Celery tasks executed
in-process (one worker's worth of work, in order), a real SMTP server (aiosmtpd) and a
real HTTP receiver on 127.0.0.1. The clock starts as the review publishes
(``apps.review.services.publish_incident``, whose transaction now also makes the alert
message and its deliveries, so that work is timed as before) and stops, per
recipient, when the SMTP server accepts the message (after DATA) and when the webhook
receiver has read the POST. Prints p50 / p95 / max.
"""

from __future__ import annotations

import datetime as dt
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[index]


class _SMTPClock:
    def __init__(self):
        self.accepted: dict[str, float] = {}

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
        now = time.perf_counter()
        for rcpt in envelope.rcpt_tos:
            self.accepted[rcpt.lower()] = now
        return "250 Message accepted for delivery"


class Command(BaseCommand):
    help = "Time from publish to alert e-mails accepted by SMTP and to the webhook received."

    def add_arguments(self, parser):
        parser.add_argument("--recipients", type=int, default=500)
        parser.add_argument("--batch-size", type=int, default=settings.ALERTS_EMAIL_BATCH_SIZE)
        parser.add_argument(
            "--current-database",
            action="store_true",
            help="Write into the configured database instead of a throw-away one (tests).",
        )

    def handle(self, *args, recipients: int, batch_size: int, current_database=False, **options):
        if recipients < 1:
            raise CommandError("--recipients must be at least 1")
        import logging

        from aiosmtpd.controller import Controller

        # The test servers' and the eager task tracer's per-message log lines are not
        # part of what is measured.
        for name in ("mail.log", "celery.app.trace", "apps.alerts"):
            logging.getLogger(name).setLevel(logging.WARNING)

        from shotspotter.celery import app as celery_app

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            smtp_port = probe.getsockname()[1]
        smtp = _SMTPClock()
        controller = Controller(smtp, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        old_name = None
        if not current_database:
            old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        hook_times: list[float] = []

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook_times.append(time.perf_counter())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        eager = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True
        try:
            with override_settings(
                EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                EMAIL_HOST="127.0.0.1",
                EMAIL_PORT=smtp_port,
                EMAIL_HOST_USER="",
                EMAIL_HOST_PASSWORD="",
                EMAIL_USE_TLS=False,
                EMAIL_USE_SSL=False,
                ALERTS_EMAIL_BATCH_SIZE=batch_size,
                ALERTS_WEBHOOK_ALLOW_HTTP=True,
                ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True,  # the receiver is local
                CELERY_TASK_ALWAYS_EAGER=True,
            ):
                self._run(
                    recipients=recipients,
                    hook_url=f"http://127.0.0.1:{server.server_address[1]}/cad",
                    smtp=smtp,
                    hook_times=hook_times,
                )
        finally:
            celery_app.conf.task_always_eager = eager
            server.shutdown()
            server.server_close()
            controller.stop()
            if old_name is not None:
                connection.creation.destroy_test_db(old_name, verbosity=0)

    def _run(self, *, recipients: int, hook_url: str, smtp: _SMTPClock, hook_times: list):
        from apps.alerts.models import DeliveryStatus, Notification
        from apps.review.services import publish_incident

        # Warm up like a running worker is: one alert to one recipient of another agency.
        warm = self._scene(system_id="902", recipients=1, hook_url=hook_url)
        with transaction.atomic():
            publish_incident(incident=warm)
        smtp.accepted.clear()
        hook_times.clear()

        incident = self._scene(system_id="901", recipients=recipients, hook_url=hook_url)
        self.stdout.write(f"Publishing incident 901-1 to {recipients} Siren recipients ...")
        with transaction.atomic():
            # The clock starts as the incident is published: the alert message, webhook
            # deliveries and e-mail notifications are made in this transaction.
            t0 = time.perf_counter()
            publish_incident(incident=incident)
        done = time.perf_counter()
        email_s = [t - t0 for t in smtp.accepted.values()]
        hook_s = [t - t0 for t in hook_times]
        sent = Notification.objects.filter(
            status=DeliveryStatus.SENT, alert__incident=incident
        ).count()
        self.stdout.write(
            f"e-mails accepted by SMTP: {len(email_s)} of {recipients} "
            f"(notifications sent: {sent}); webhooks received: {len(hook_s)}"
        )
        self._line("publish -> e-mail accepted", email_s)
        self._line("publish -> webhook received", hook_s)
        self.stdout.write(f"all done after {done - t0:.3f} s")

    def _scene(self, *, system_id: str, recipients: int, hook_url: str):
        """An agency with a beat, a webhook endpoint, N Siren users and a pending incident."""
        from django.contrib.auth.hashers import make_password

        from apps.accounts.models import Agency, Application, ApplicationGrant, Role, User
        from apps.alerts import services
        from apps.alerts.models import AlertSubscription
        from apps.geo.models import Beat, CoverageArea, District
        from apps.incidents.models import Incident, IncidentStatus

        ring = [[-89.7, 40.6], [-89.5, 40.6], [-89.5, 40.8], [-89.7, 40.8], [-89.7, 40.6]]
        polygon = {"type": "Polygon", "coordinates": [ring]}
        agency = Agency.objects.create(
            system_id=system_id, name=f"Bench PD {system_id}", time_zone="America/Chicago"
        )
        area = CoverageArea.objects.create(agency=agency, name="Bench", boundary=polygon)
        district = District.objects.create(agency=agency, name="District 1", boundary=polygon)
        beat = Beat.objects.create(agency=agency, district=district, name="12", boundary=polygon)
        boss = User.objects.create_user(
            f"boss@{system_id}.bench.example.org",
            None,
            role=Role.AGENCY_SUPER_USER,
            agency=agency,
        )
        services.webhook_endpoint_create(
            actor=boss,
            name="CAD",
            url=hook_url,
            event_types=["incident.published", "incident.updated", "incident.cancelled"],
        )
        password = make_password(None)
        users = User.objects.bulk_create(
            User(
                email=f"officer{k:04d}@{system_id}.bench.example.org",
                agency=agency,
                role=Role.POLICE_USER,
                password=password,
            )
            for k in range(recipients)
        )
        ApplicationGrant.objects.bulk_create(
            ApplicationGrant(user=u, application=Application.SIREN) for u in users
        )
        # Realistic preferences: a third by beat, half with an all-day window.
        subscriptions = AlertSubscription.objects.bulk_create(
            AlertSubscription(
                user=u, time_windows=[] if k % 2 else [["00:00", "23:59"]], incident_types=[]
            )
            for k, u in enumerate(users)
        )
        for k, sub in enumerate(subscriptions):
            if k % 3 == 0:
                sub.beats.add(beat)
        now = timezone.now()
        return Incident.objects.create(
            agency=agency,
            coverage_area=area,
            number=1,
            status=IncidentStatus.PENDING_REVIEW,
            first_shot_at=now - dt.timedelta(seconds=30),
            last_shot_at=now - dt.timedelta(seconds=28),
            latitude=40.70,
            longitude=-89.60,
            ellipse_major_m=15.0,
            ellipse_minor_m=9.0,
            ellipse_azimuth_deg=40.0,
            origin_latitude=40.70,
            origin_longitude=-89.60,
            rounds=6,
            machine_class="gunfire",
            nearest_address="1200 block of W Main St",
            beat=beat,
            district=district,
        )

    def _line(self, label: str, values: list[float]) -> None:
        if not values:
            self.stdout.write(f"{label}: none")
            return
        self.stdout.write(
            f"{label}: p50 {_percentile(values, 0.5) * 1000:.0f} ms, "
            f"p95 {_percentile(values, 0.95) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms, mean {statistics.fmean(values) * 1000:.0f} ms"
        )
