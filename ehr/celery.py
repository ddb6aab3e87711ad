"""The Celery application shared by the web process, the worker and beat."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ehr.settings")

app = Celery("ehr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="ehr.ping")
def ping(value: str) -> str:
    """Round-trip check used by health checks and the broker test."""
    return f"pong:{value}"
