"""The OpenAPI schema documents every API error as a problem+json body."""

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_every_error_response_is_a_problem_body(schema):
    errors = [
        (path, method, code, response)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        for code, response in operation["responses"].items()
        if code.startswith(("4", "5"))
    ]
    assert len(errors) >= 20
    for path, method, code, response in errors:
        content = response.get("content", {})
        assert list(content) == ["application/problem+json"], (path, method, code)
        assert content["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }
    problem = schema["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status"]
    assert problem["properties"]["status"] == {"type": "integer", "minimum": 400, "maximum": 599}


def test_rate_limit_and_database_outage_answers_are_documented(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert "Retry-After" in responses["503"]["headers"], (path, method)
            if path.startswith("/api/v1/sensor/"):
                assert "Retry-After" in responses["429"]["headers"], (path, method)
