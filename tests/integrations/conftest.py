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
def api(client, token):
    """The test client with the token's Authorization header on every request."""

    def get(path, **params):
        return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token.plaintext}")

    return get
