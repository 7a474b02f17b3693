import os

import pytest

from tests.factories import AgencyFactory
from tests.incidents.support import square_area


@pytest.fixture(autouse=True)
def _incident_settings(settings, tmp_path):
    """Evidence files go to a temporary MEDIA_ROOT; the classifier is the installed one
    (or INCIDENT_CLASSIFIER_PATH from the environment)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.INCIDENT_CLASSIFIER_PATH = os.environ.get("INCIDENT_CLASSIFIER_PATH", "")


@pytest.fixture
def classifier_model(settings):
    """The classifier the pipeline will use; the test is skipped, saying why, without one.

    (The pipeline itself never guesses: without a model every run fails loudly, see
    test_a_missing_classifier_fails_the_run_loudly_and_writes_nothing.)
    """
    from apps.incidents.classification import ClassifierUnavailable, load_model

    try:
        return load_model(settings.INCIDENT_CLASSIFIER_PATH or None)
    except ClassifierUnavailable as error:
        pytest.skip(f"no usable acoustic classifier model: {error}")


@pytest.fixture
def agency(db):
    return AgencyFactory(system_id="417")


@pytest.fixture
def area(agency):
    return square_area(agency=agency)


@pytest.fixture
def weather_of(settings):
    """Set the pipeline's weather to a scenario's (the deployment knows its own air)."""

    def apply(scenario):
        settings.PIPELINE_TEMPERATURE_C = scenario.weather.temperature_c
        settings.PIPELINE_WIND_SPEED_MS = scenario.weather.wind_speed_ms
        settings.PIPELINE_WIND_FROM_DEG = scenario.weather.wind_from_deg

    return apply
