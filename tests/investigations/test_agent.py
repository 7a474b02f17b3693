"""End to end: the reference sensor agent answers an investigation's audio request over
real HTTP (signed), from its ring buffer, with exactly the requested window."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from apps.investigations import services
from apps.investigations.models import InvestigationClip
from apps.sensor_agent.agent import SensorAgent
from apps.sensor_agent.client import utc_iso
from apps.sensors.signing import SERVER_SIGNATURE_HEADER, generate_private_key, sign_server_answer
from tests.investigations.support import file_request, sensor_at
from tests.sensor_agent.support import TamperingProxy, agent_config, record_ten_minutes

pytestmark = pytest.mark.django_db(transaction=True)
RATE = 12_000


def _request_audio(agent, sensor, officer_user, reviewer):
    """Ten minutes of audio that ended 30 s ago in the agent's ring buffer, and an
    investigation's pending 7.5 s audio request inside it; (request, buffer start)."""
    recorded_from = record_ten_minutes(agent.buffer, rate=RATE)
    occurred = dt.datetime.fromtimestamp(recorded_from + 300, dt.UTC)
    investigation = file_request(officer_user, occurred_at=occurred, tolerance_s=60)
    services.investigation_search(investigation_id=investigation.pk, reviewer=reviewer)
    (request,) = services.investigation_audio_request(
        investigation_id=investigation.pk,
        reviewer=reviewer,
        sensor_ids=[sensor.pk],
        source_start=occurred - dt.timedelta(seconds=2),
        duration_s=7.5,
    )
    return request, recorded_from


def test_the_agent_uploads_exactly_the_investigation_window(
    live_server, tmp_path, agency, officer_user, reviewer
):
    sensor, key = sensor_at(agency, "HC-AGENT-1", north=200, east=-40)
    agent = SensorAgent(
        agent_config(tmp_path, server_url=live_server.url, serial=sensor.serial_number),
        private_key=key,
    )
    try:
        request, _ = _request_audio(agent, sensor, officer_user, reviewer)

        answers = agent.poll_audio_requests()

        assert [(a.request_id, a.outcome) for a in answers] == [(request.pk, "sent")]
        clip = InvestigationClip.objects.get()
        assert clip.request_id == request.pk and clip.investigation_id == request.investigation_id
        assert clip.start_time >= request.window_start
        last_sample = clip.start_time + dt.timedelta(seconds=(clip.n_samples - 1) / RATE)
        assert last_sample <= request.window_end
        assert clip.duration_s == pytest.approx(7.5, abs=2 / RATE)
        # Answered once: the next poll finds nothing and sends nothing.
        assert agent.poll_audio_requests() == []
        assert InvestigationClip.objects.count() == 1
    finally:
        agent.close()


@pytest.fixture
def pending_request(live_server, tmp_path, agency, officer_user, reviewer):
    """A sensor whose agent talks to the real server through a man in the middle, ten
    minutes of audio in its ring buffer, and one pending investigation audio request."""
    sensor, key = sensor_at(agency, "HC-AGENT-2", north=200, east=-40)
    proxy = TamperingProxy(live_server.url).start()
    agent = SensorAgent(
        agent_config(tmp_path, server_url=proxy.url, serial=sensor.serial_number),
        private_key=key,
    )
    request, recorded_from = _request_audio(agent, sensor, officer_user, reviewer)
    yield agent, proxy, request, recorded_from
    agent.close()
    proxy.stop()


def _widened(body: bytes, recorded_from: float) -> bytes:
    """The same answer, but asking for the buffer's first two minutes instead."""
    data = json.loads(body)
    for item in data["requests"]:
        item["start_utc"] = utc_iso(recorded_from)
        item["end_utc"] = utc_iso(recorded_from + 119)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "forgery",
    ["window-changed-signature-kept", "signature-removed", "signed-by-another-key"],
)
def test_an_answer_altered_on_the_way_uploads_nothing(pending_request, forgery):
    """Plain http: whoever is on the path rewrites the poll answer to ask for another
    window. The agent refuses the answer and no audio leaves it; the genuine request is
    still answered once the path is honest again."""
    agent, proxy, request, recorded_from = pending_request
    attacker_key = generate_private_key()

    def tamper(body, headers):
        body = _widened(body, recorded_from)
        if forgery == "signature-removed":
            headers.pop(SERVER_SIGNATURE_HEADER, None)
        elif forgery == "signed-by-another-key":
            headers[SERVER_SIGNATURE_HEADER] = sign_server_answer(
                body=body, private_key=attacker_key
            )
        return body, headers

    proxy.tamper = tamper
    assert agent.poll_audio_requests() == []
    assert agent.poll_audio_requests() == []
    assert proxy.puts() == []  # nothing uploaded, not even to the man in the middle
    assert agent.untrusted_answers == 2
    assert InvestigationClip.objects.count() == 0

    proxy.tamper = None
    answers = agent.poll_audio_requests()
    assert [(a.request_id, a.outcome) for a in answers] == [(request.pk, "sent")]
    [put] = proxy.puts()
    assert put["path"] == f"/api/v1/sensor/audio-requests/{request.pk}"
    clip = InvestigationClip.objects.get()
    assert clip.start_time >= request.window_start
    last_sample = clip.start_time + dt.timedelta(seconds=(clip.n_samples - 1) / RATE)
    assert last_sample <= request.window_end


def test_an_earlier_answer_replayed_to_a_later_poll_uploads_nothing(pending_request):
    """A genuine, signed answer recorded on the way is worthless later: it echoes the
    nonce of the poll it answered, not the next one's."""
    agent, proxy, request, recorded_from = pending_request
    captured = []

    def record_then_replay(body, headers):
        if not captured:
            captured.append((body, dict(headers)))
            return body, {**headers, SERVER_SIGNATURE_HEADER: "ed25519=:AAAA:"}
        return captured[0]

    proxy.tamper = record_then_replay
    assert agent.poll_audio_requests() == []  # the first answer did not verify (cut short)
    assert agent.poll_audio_requests() == []  # the genuine first answer, replayed
    assert agent.untrusted_answers == 2
    assert proxy.puts() == [] and InvestigationClip.objects.count() == 0
