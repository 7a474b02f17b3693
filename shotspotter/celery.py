"""The Celery application; worker and beat run from this same code."""

import logging
import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shotspotter.settings")

app = Celery("shotspotter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("shotspotter.celery")

# Embedded mode (no REDIS_URL) sends tasks through kombu's in-memory transport. Celery
# takes a producer connection even for a task it runs in-process, and for the bare URL
# "memory://" kombu logged "No hostname was supplied. Reverting to default 'localhost'"
# (a WARNING on every make run). The host means nothing to this transport: name it.
IN_MEMORY_BROKER_URL = "memory://localhost/"


@app.on_after_configure.connect
def name_the_in_memory_broker_host(sender: Celery, **_kwargs) -> None:
    if sender.conf.broker_url == "memory://":
        sender.conf.broker_url = IN_MEMORY_BROKER_URL


@worker_init.connect
def warm_detection_pipeline(**_kwargs) -> None:
    """Load the pipeline's modules and classifier model before the first shot arrives.

    Runs in the worker's main process before the pool starts, so forked pool processes
    inherit them: the first incident does not pay for imports and model loading.
    """
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from apps.incidents import classification, pipeline  # noqa: F401

    try:
        classification.load_model(classification.model_path_setting())
    except classification.ClassifierUnavailable as error:
        logger.warning("no classifier model to preload: %s", error)
