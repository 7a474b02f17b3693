import pytest

from tests.factories import AgencyFactory, UserFactory
from tests.review.support import area_with_beat


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def agency(db):
    return AgencyFactory(system_id="531")


@pytest.fixture
def area(agency):
    return area_with_beat(agency=agency)


@pytest.fixture
def reviewer(db):
    return UserFactory(irc_reviewer=True, full_name="Rita Reviewer")


@pytest.fixture
def other_reviewer(db):
    return UserFactory(irc_reviewer=True, full_name="Omar Other")


@pytest.fixture
def signals_seen():
    """Every review domain signal sent during the test, as (name, kwargs) in order."""
    from apps.review import signals

    seen: list[tuple[str, dict]] = []
    receivers = {}
    for name in ("incident_published", "incident_updated", "incident_cancelled"):
        signal = getattr(signals, name)

        def receiver(sender, signal=None, _name=name, **kwargs):
            seen.append((_name, kwargs))

        receivers[name] = receiver
        signal.connect(receiver, weak=False, dispatch_uid=f"test-{name}")
    yield seen
    for name in receivers:
        getattr(signals, name).disconnect(dispatch_uid=f"test-{name}")
