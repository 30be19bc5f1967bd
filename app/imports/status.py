"""What the admin shows of a session: its Celery task state and its cells.

The change list and the JSON status endpoint render cells with the same code,
so a cell looks the same on page load and after a live update."""

import logging
from dataclasses import dataclass

from celery.result import AsyncResult
from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from core.redis import get_redis, mask_url
from imports.models import ImportSession

log = logging.getLogger(__name__)
Status = ImportSession.Status

# key: (label, icon, colour)
TASK_STATES = {
    "queued": ("Queued", "\u23f3", "#6c757d"),
    "running": ("Running", "\u25b6", "#0d6efd"),
    "progress": ("In progress", "\u21bb", "#0d6efd"),
    "retrying": ("Retrying", "\u27f3", "#fd7e14"),
    "unreachable": ("Broker unreachable", "\u26a0", "#dc3545"),
    "done": ("Done", "\u2714", "#198754"),
    "failed": ("Failed", "\u2716", "#dc3545"),
    "cancelled": ("Cancelled", "\u29b8", "#6c757d"),
}
STATUS_COLOURS = {
    Status.QUEUED: "#6c757d",
    Status.RUNNING: "#0d6efd",
    Status.RETRYING: "#fd7e14",
    Status.SUCCEEDED: "#198754",
    Status.FAILED: "#dc3545",
    Status.CANCELLED: "#6c757d",
}
FINAL_KEYS = {Status.SUCCEEDED: "done", Status.FAILED: "failed", Status.CANCELLED: "cancelled"}


@dataclass
class TaskState:
    key: str
    celery_state: str
    current: int = 0
    total: int = 0

    @property
    def percent(self):
        return int(self.current * 100 / self.total) if self.total else (100 if self.key == "done" else 0)


def broker_error():
    """None when the broker and the result backend answer; otherwise why not."""
    for name, url in (("broker", settings.CELERY_BROKER_URL), ("result backend", settings.CELERY_RESULT_BACKEND)):
        try:
            get_redis(url).ping()
        except Exception as exc:  # any failure means "unreachable"
            return f"the {name} ({mask_url(url)}) is unreachable: {type(exc).__name__}: {exc}"
    return None


def task_state(session, broker_down=False):
    """The session's task state; asks the result backend only while the session
    is active, and not at all when ``broker_down`` (see broker_error)."""
    cached = getattr(session, "_task_state", None)
    if cached is not None:
        return cached
    if session.status in FINAL_KEYS:
        state = TaskState(FINAL_KEYS[session.status], "", session.progress_current, session.progress_total)
    else:
        celery_state, info = "PENDING", None
        if session.celery_task_id and not broker_down:
            try:
                result = AsyncResult(session.celery_task_id)
                celery_state, info = result.state, result.info
            except Exception as exc:  # the backend is down: say so, not "retrying"
                log.warning("cannot read the state of task %s: %s", session.celery_task_id, exc)
                broker_down = True
        if broker_down:
            state = TaskState("unreachable", "")
        elif session.status == Status.RETRYING or celery_state == "RETRY":
            state = TaskState("retrying", celery_state)
        elif celery_state == "PROGRESS" and isinstance(info, dict):
            state = TaskState("progress", celery_state, int(info.get("current", 0)), int(info.get("total", 0)))
        elif celery_state == "STARTED" or session.status == Status.RUNNING:
            state = TaskState("running", celery_state)
        else:
            state = TaskState("queued", celery_state)
    session._task_state = state
    return state


def _duration_text(session):
    if session.started_at is None:
        return "in progress" if session.is_active else "\u2014"
    if session.is_active:
        return "in progress"
    seconds = ((session.finished_at or timezone.now()) - session.started_at).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


def _when(value):
    return date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else "\u2014"


def render_cells(session):
    """Inner HTML of every live cell of a session's row, by cell name."""
    state = task_state(session)
    label, icon, colour = TASK_STATES[state.key]
    if state.key == "progress":
        text = format_html(
            '{} {} {}% <progress max="100" value="{}">{}%</progress> <small>{}/{}</small>',
            icon,
            label,
            state.percent,
            state.percent,
            state.percent,
            state.current,
            state.total,
        )
    else:
        text = format_html("{} {}", icon, label)
    return {
        "status": format_html(
            '<span style="color:{}">{}</span>', STATUS_COLOURS[session.status], session.get_status_display()
        ),
        "task_state": format_html(
            '<span class="import-state import-state-{}" style="color:{}" title="Celery state: {}">{}</span>',
            state.key,
            colour,
            state.celery_state or "-",
            text,
        ),
        "started": _when(session.started_at),
        "finished": _when(session.finished_at),
        "duration": _duration_text(session),
    }


def cell(session, name):
    """One cell wrapped in the span that the live-status script updates."""
    return format_html(
        '<span class="import-cell" data-import-session="{}" data-cell="{}" data-active="{}">{}</span>',
        session.pk,
        name,
        "1" if session.is_active else "0",
        render_cells(session)[name],
    )


def payload(session, broker_down=False):
    """The JSON form of a session for the status endpoint."""
    state = task_state(session, broker_down)
    return {
        "id": session.pk,
        "status": session.status,
        "active": session.is_active,
        "task_id": session.celery_task_id,
        "task_state": state.key,
        "celery_state": state.celery_state,
        "progress": {"current": state.current, "total": state.total, "percent": state.percent},
        "error": session.error_message,
        "cells": {name: str(html) for name, html in render_cells(session).items()},
    }
