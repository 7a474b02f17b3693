"""End to end: the reference sensor agent answers an investigation's audio request over
real HTTP (signed), from its ring buffer, with exactly the requested window."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from apps.investigations import services
from apps.investigations.models import InvestigationClip
from apps.sensor_agent.agent import SensorAgent
from tests.investigations.support import file_request, sensor_at
from tests.sensor_agent.support import agent_config

pytestmark = pytest.mark.django_db(transaction=True)
RATE = 12_000


def test_the_agent_uploads_exactly_the_investigation_window(
    live_server, tmp_path, agency, officer_user, reviewer
):
    sensor, key = sensor_at(agency, "HC-AGENT-1", north=200, east=-40)
    agent = SensorAgent(
        agent_config(tmp_path, server_url=live_server.url, serial=sensor.serial_number),
        private_key=key,
    )
    try:
        # Ten minutes of audio that ended 30 s ago, in the agent's 72 h ring buffer.
        recorded_from = float(round(time.time()) - 630)
        for k in range(20):
            chunk = (((np.arange(30 * RATE) + 30 * RATE * k) % 30000) - 15000).astype(np.int16)
            agent.buffer.write(chunk, sample_rate=RATE, start=recorded_from + 30 * k)
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

        answers = agent.poll_audio_requests()

        assert [(a.request_id, a.outcome) for a in answers] == [(request.pk, "sent")]
        clip = InvestigationClip.objects.get()
        assert clip.request_id == request.pk and clip.investigation_id == investigation.pk
        assert clip.start_time >= request.window_start
        last_sample = clip.start_time + dt.timedelta(seconds=(clip.n_samples - 1) / RATE)
        assert last_sample <= request.window_end
        assert clip.duration_s == pytest.approx(7.5, abs=2 / RATE)
        # Answered once: the next poll finds nothing and sends nothing.
        assert agent.poll_audio_requests() == []
        assert InvestigationClip.objects.count() == 1
    finally:
        agent.close()
