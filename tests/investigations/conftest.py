import pytest

from tests.factories import AgencyFactory
from tests.investigations.support import agency_area, officer, verified_reviewer


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def agency(db):
    agency = AgencyFactory(system_id="612", name="Harbor City Police Department")
    agency_area(agency)
    return agency


@pytest.fixture
def other_agency(db):
    other = AgencyFactory(system_id="613", name="Otherton Police Department")
    agency_area(other)  # the same streets: a neighbouring agency's sensors hear them too
    return other


@pytest.fixture
def officer_user(agency):
    return officer(agency, email="detective@harbor.example")


@pytest.fixture
def reviewer(db):
    return verified_reviewer(email="reviewer@irc.example")
