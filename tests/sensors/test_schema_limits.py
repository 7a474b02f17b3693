"""The OpenAPI schema carries the pulse batch's configured size limits."""

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_the_pulse_batch_documents_its_configured_size_limits(client, settings):
    settings.SENSOR_PULSE_BATCH_MAX = 250
    schema = yaml.safe_load(client.get("/api/schema/").content)
    pulses = schema["components"]["schemas"]["PulseBatch"]["properties"]["pulses"]
    assert (pulses["minItems"], pulses["maxItems"]) == (1, 250)
