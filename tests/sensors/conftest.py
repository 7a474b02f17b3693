import pytest

from tests.factories import AgencyFactory
from tests.sensors.support import register


@pytest.fixture
def agency(db):
    return AgencyFactory(system_id="312")


@pytest.fixture
def sensor_and_key(agency):
    return register(agency=agency, serial="S-0001")


@pytest.fixture
def sensor(sensor_and_key):
    return sensor_and_key[0]


@pytest.fixture
def key(sensor_and_key):
    return sensor_and_key[1]
