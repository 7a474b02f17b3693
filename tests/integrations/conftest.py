import pytest

from apps.integrations.services import api_token_create
from tests.factories import AgencyFactory
from tests.review.support import area_with_beat


@pytest.fixture
def agency(db):
    return AgencyFactory(system_id="312")


@pytest.fixture
def other_agency(db):
    return AgencyFactory(system_id="415")


@pytest.fixture
def area(agency):
    return area_with_beat(agency=agency)


@pytest.fixture
def other_area(other_agency):
    return area_with_beat(agency=other_agency, name="Other")


@pytest.fixture
def token(agency):
    return api_token_create(agency=agency, name="CAD east")


@pytest.fixture
def api(client, token, django_capture_on_commit_callbacks):
    """The test client with the token's Authorization header on every request. What the
    request left for after its commit runs when it ends, as it would outside the test's
    transaction (the audit counts repeats only after a record commits)."""

    def get(path, **params):
        with django_capture_on_commit_callbacks(execute=True):
            return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token.plaintext}")

    return get
