"""The Celery application ``config``: settings come from Django's, prefix CELERY_.

The kit runs it through deploykit.celeryapp (KIT_CELERY_APP=config), which adds
the worker's alive file and the kit's settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(bind=True, ignore_result=True)
def debug_task(self):
    print(f"Request: {self.request!r}")
