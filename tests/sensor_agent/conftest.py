from __future__ import annotations

import pytest

from tests.sensor_agent.support import StubSensorServer


@pytest.fixture
def stub():
    """A running ``StubSensorServer`` (signed audio-request answers, recorded requests)."""
    server = StubSensorServer().start()
    yield server
    server.stop()
