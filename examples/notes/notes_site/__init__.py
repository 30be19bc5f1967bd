"""The notes project's Django site. The Celery app lives in notes_site.worker."""
