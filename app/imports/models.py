"""Import sessions: one run of the 1C exchange import, executed by a Celery task."""

from django.conf import settings
from django.db import models


class ImportSession(models.Model):
    class Type(models.TextChoices):
        CATALOGUE = "catalogue", "Catalogue (import.xml)"
        PRICES = "prices", "Prices (offers.xml)"
        STOCK = "stock", "Stock (offers.xml)"
        FULL = "full", "Everything: catalogue, prices and stock"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.RETRYING)

    import_type = models.CharField("type", max_length=20, choices=Type.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # NULL, not "", until a task is assigned: the brief asks for a nullable column.
    celery_task_id = models.CharField(  # noqa: DJ001
        "Celery task id", max_length=255, null=True, blank=True, db_index=True
    )
    worker = models.CharField(
        max_length=255, blank=True, help_text="the Celery worker that runs (or last ran) the task"
    )
    launched_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="runs of the task, retries included")
    progress_current = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField("created", default=0)
    updated_count = models.PositiveIntegerField("updated", default=0)
    skipped_count = models.PositiveIntegerField("skipped", default=0)
    error_count = models.PositiveIntegerField("errors", default=0)
    report = models.JSONField(default=dict, blank=True, help_text="per-file figures, first errors, retries")
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_import", "Can run imports"), ("cancel_import", "Can cancel imports")]

    def __str__(self):
        return f"Import #{self.pk} ({self.get_import_type_display()}, {self.get_status_display()})"

    @property
    def is_active(self):
        return self.status in self.ACTIVE
