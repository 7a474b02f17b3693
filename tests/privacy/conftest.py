import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Evidence files go to a temporary MEDIA_ROOT, so "the file is gone" is checkable."""
    settings.MEDIA_ROOT = tmp_path / "media"
