"""The OpenAPI schema documents the signed sensor endpoints."""

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_schema_lists_sensor_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    pulses = paths["/api/v1/sensor/pulses"]["post"]
    assert "202" in pulses["responses"] and "413" in pulses["responses"]
    request_schema = pulses["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema["$ref"].endswith("/PulseBatch")
    item = schema["components"]["schemas"]["Pulse"]["properties"]
    assert {"pulse_uuid", "arrival_time_utc", "power_db_spl", "signal_to_noise_db"} <= set(item)
    assert "post" in paths["/api/v1/sensor/heartbeat"]
    assert pulses["security"] == [{"SensorSignature": []}]
    scheme = schema["components"]["securitySchemes"]["SensorSignature"]
    assert "RFC 9421" in scheme["description"]
