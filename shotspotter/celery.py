"""The Celery application; worker and beat run from this same code."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shotspotter.settings")

app = Celery("shotspotter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
