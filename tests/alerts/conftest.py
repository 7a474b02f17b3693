import pytest


@pytest.fixture(autouse=True)
def _alert_settings(settings, tmp_path):
    settings.SITE_URL = "https://siren.example.org"
    settings.ALERTS_WEBHOOK_ALLOW_HTTP = True
    # The receivers of these tests listen on 127.0.0.1 (test_webhooks.py turns it off).
    settings.ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.ALERTS_CAP_SENDER = "alerts@siren.example.org"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Send a review signal the way the review services do, and run what it queued."""
    from apps.review import signals

    def send(incident, kind="publish", change=None):
        with django_capture_on_commit_callbacks(execute=True):
            if kind == "publish":
                signals.incident_published.send(sender=None, incident_id=incident.pk)
            elif kind == "update":
                signals.incident_updated.send(sender=None, incident_id=incident.pk, change=change)
            else:
                signals.incident_cancelled.send(sender=None, incident_id=incident.pk)

    return send
