"""Logging helpers shared by web, worker and beat (see LOGGING in settings)."""

import logging


class TaskIdFilter(logging.Filter):
    """Adds ``task`` to every record: ``[task-id] `` inside a Celery task, else ``""``.

    Celery's own TaskFormatter would need the worker to hijack the root logger;
    a filter keeps one format for every process.
    """

    def filter(self, record):
        from celery._state import get_current_task

        task = get_current_task()
        task_id = getattr(getattr(task, "request", None), "id", None) if task else None
        record.task = f"[{task_id}] " if task_id else ""
        return True
