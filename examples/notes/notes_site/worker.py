"""The Celery app for the notes project: ``celery -A notes_site.worker ...``.

Named worker.py, not celery.py, and not imported by notes_site/__init__.py:
the worker and beat load it by its full module path.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notes_site.settings.production")

app = Celery("notes_site")
# Settings come from Django's, every name prefixed with CELERY_.
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds tasks.py in each installed app.
app.autodiscover_tasks()
