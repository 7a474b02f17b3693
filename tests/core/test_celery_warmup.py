"""The worker loads the classifier before its first task (no cold first incident)."""

from __future__ import annotations

from apps.incidents import classification
from shotspotter.celery import warm_detection_pipeline


def test_worker_start_preloads_the_classifier_model(monkeypatch):
    monkeypatch.setattr(classification, "_cache", {})
    warm_detection_pipeline()
    assert len(classification._cache) == 1
    (_mtime, model) = next(iter(classification._cache.values()))
    assert model is classification.load_model(classification.model_path_setting())


def test_worker_starts_without_a_model(monkeypatch, settings, tmp_path, caplog):
    monkeypatch.setattr(classification, "_cache", {})
    settings.INCIDENT_CLASSIFIER_PATH = str(tmp_path / "missing.json")
    warm_detection_pipeline()  # logs, does not stop the worker
    assert classification._cache == {}
    assert "no classifier model to preload" in caplog.text
