import pytest

from tests.factories import AgencyFactory
from tests.faults.support import PrivateCluster, PrivateRedis, missing_binaries
from tests.incidents.conftest import classifier_model  # noqa: F401 (a fixture)
from tests.incidents.support import square_area


@pytest.fixture(autouse=True)
def _fault_binaries():
    """CI (.ci/run) starts PostgreSQL and Redis from these binaries, so they are there."""
    reason = missing_binaries()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def agency(db):
    return AgencyFactory(system_id="733")


@pytest.fixture
def area(agency):
    return square_area(agency=agency)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test only: stopping it disturbs nobody else."""
    server = PrivateRedis(tmp_path).start()
    yield server
    if server.process is not None:
        server.stop()


@pytest.fixture
def cluster():
    """A PostgreSQL cluster of this test only: stopping it disturbs nobody else."""
    server = PrivateCluster().init()
    yield server
    server.destroy()
