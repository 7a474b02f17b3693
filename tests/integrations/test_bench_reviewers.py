"""``bench_pipeline``'s reviewers: real IRC reviewers logged in with password and TOTP, working
the review center over HTTP against daphne with the production settings (DEBUG=0: Secure
cookies, manifest static files), as the bench runs them beside the ingest. The bench's
figures come from ``make bench-pipeline``, not from here.
"""

from __future__ import annotations

import io
import os
import secrets

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.integrations import benchmark as bench
from apps.review.models import HistoryKind, IncidentHistory, ReviewClaim
from tests.browser import DaphneServer, current_database_url
from tests.factories import AgencyFactory
from tests.incidents.support import CENTRE
from tests.review.support import area_with_beat

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
# daphne runs the production settings, which do not know the test settings' MD5 hasher.
PRODUCTION_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shotspotter.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": django_settings.REDIS_URL or "",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("TEST_DATABASE_NAME", None)
    bench.collect_static(env=env, root=tmp_path_factory.mktemp("static"))
    with DaphneServer(env=env, app="apps.integrations.bench_asgi:application") as running:
        yield running


@pytest.fixture
def crew(settings):
    """Two reviewers with a confirmed TOTP device, two pending and one published incident."""
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    area = area_with_beat(agency=AgencyFactory())
    reviewers = bench.create_reviewers(count=2)
    pending, published = bench.seed_review_incidents(
        area=area,
        lat=CENTRE[0],
        lon=CENTRE[1],
        pending=2,
        published=1,
        publisher_email=reviewers[0].email,
    )
    return reviewers, pending, published


def _seat(client, k: int, pending: list[int], published: list[int]) -> bench.ReviewerSeat:
    return bench.ReviewerSeat(
        client=client, name=f"reviewer {k}", claim_id=pending[k], comment_ids=published
    )


def test_reviewers_pass_two_factor_and_work_the_queue_through_daphne(server, crew):
    reviewers, pending, published = crew
    clients = []
    for reviewer in reviewers:
        client = bench.ReviewerClient(base_url=server.url)
        client.log_in(email=reviewer.email, password=reviewer.password, device=reviewer.device)
        clients.append(client)

    # What a reviewer sees is the real queue, with the seeded incidents, not a log-in page.
    page = clients[1].request("GET", bench.REVIEW_QUEUE_PATH)
    assert page.status_code == 200
    assert bench.QUEUE_MARKER in page.text
    assert all(f'data-incident="{pk}"' in page.text for pk in pending)
    assert 'name="password"' not in page.text and 'name="code"' not in page.text
    assert "sessionid" in clients[1].cookies  # the Secure session cookie was kept
    verified = AuditEvent.objects.filter(action="auth.two_factor_verified")
    assert sorted(verified.values_list("actor__email", flat=True)) == sorted(
        r.email for r in reviewers
    )

    seats = [_seat(client, k, pending, published) for k, client in enumerate(clients)]
    result = bench.run_reviewers(seats=seats, seconds=3.0, think_s=0.0)

    assert result.error_count == 0, result.error_samples
    assert result.loops >= 2
    for kind in bench.REVIEW_KINDS:
        assert result.latencies_ms[kind], f"no successful {kind} request"
    # Every claim was given back, even the one of the loop that ran out of time.
    assert len(result.latencies_ms["claim"]) == len(result.latencies_ms["release"])
    stored = set(
        IncidentHistory.objects.filter(
            kind=HistoryKind.COMMENT, incident_id__in=published
        ).values_list("reason", flat=True)
    )
    assert len(stored) == len(result.comments) == len(result.latencies_ms["comment"])
    assert {text for _, text in result.comments} == stored
    assert not ReviewClaim.objects.filter(incident_id__in=pending).exists()


def test_a_session_without_its_second_factor_is_counted_as_errors(server, crew):
    reviewers, pending, published = crew
    client = bench.ReviewerClient(base_url=server.url)
    client.request("GET", bench.LOGIN_PATH)
    step = client.request(
        "POST",
        bench.LOGIN_PATH,
        data={"email": reviewers[0].email, "password": reviewers[0].password},
    )
    assert step.status_code == 302  # password accepted, TOTP code not given

    result = bench.run_reviewers(
        seats=[_seat(client, 0, pending, published)], seconds=1.0, think_s=0.0
    )

    assert result.requests > 0
    assert result.error_count == result.requests  # not one request got past the middleware
    assert any(bench.TWO_FACTOR_PATH in sample for sample in result.error_samples)
    assert not IncidentHistory.objects.filter(kind=HistoryKind.COMMENT).exists()


def test_a_wrong_password_stops_the_bench_saying_which_step_failed(server, crew):
    reviewers, _, _ = crew
    client = bench.ReviewerClient(base_url=server.url)
    with pytest.raises(bench.BenchRefused, match=r"could not log in \(password\): 400"):
        client.log_in(email=reviewers[0].email, password="not-it", device=reviewers[0].device)


@pytest.mark.parametrize("option", ["--reviewers=-1", "--reviewer-think-ms=-5"])
def test_negative_reviewer_options_are_refused_before_anything_starts(option):
    with pytest.raises(CommandError, match="must be >= 0"):
        call_command("bench_pipeline", option, stdout=io.StringIO())


def test_offered_load_mode_posts_what_each_sensor_detected_once_a_second(server):
    """The agent-like ingest of ``--rate-per-sensor``: every detected pulse is either
    acknowledged (and stored once) or counted in the sensors' backlog."""
    from apps.sensors.models import SensorPulse
    from apps.sensors.services import sensor_register

    agency = AgencyFactory()
    sensors = []
    for k in range(3):
        key, public = bench.new_key()
        sensor = sensor_register(
            agency=agency,
            serial=f"OPEN-{k}",
            latitude=CENTRE[0],
            longitude=CENTRE[1] + 0.01 * k,
            elevation_m=150.0,
            public_key=public,
        )
        sensors.append(
            bench.VirtualSensor(serial=sensor.serial_number, key=key, base_url=server.url)
        )

    result = bench.run_ingest(sensors=sensors, seconds=3.0, batch_size=1, rate_per_sensor=20.0)

    assert result.errors == 0 and not result.unacked_uuids
    assert result.requests_ok >= 6  # about one post a second per sensor
    assert max(result.batch_sizes) <= 200 and sum(result.batch_sizes) == len(result.acked_uuids)
    detected = len(result.acked_uuids) + result.backlog
    assert 3 * 20.0 * 2.5 <= detected <= 3 * 20.0 * 3.5
    assert sum(n for _, n in result.acks) == len(result.acked_uuids)
    assert all(0 <= t <= result.seconds + 1 for t, _ in result.acks)
    # Three sensors offer 60 pulses/s and this server keeps up. Each posts once a second,
    # so the last 1.5 s of a 3 s run hold the posts at ~2 s and ~3 s: two rounds of ~60
    # pulses, 80-120 pulses/s; a server falling behind would show far less.
    assert 40 <= result.steady_rate() <= 130
    stored = set(
        str(u)
        for u in SensorPulse.objects.filter(sensor__agency=agency).values_list(
            "pulse_uuid", flat=True
        )
    )
    assert stored == result.acked_uuids


def test_steady_rate_counts_only_the_second_half_of_the_run():
    result = bench.IngestResult(seconds=10.0, acks=[(1.0, 500), (5.0, 30), (6.0, 40), (9.5, 30)])
    assert result.steady_rate() == (30 + 40 + 30) / 5.0
    assert result.steady_rate(after_fraction=0.0) == 600 / 10.0
    assert bench.IngestResult(seconds=0.0).steady_rate() == 0.0
