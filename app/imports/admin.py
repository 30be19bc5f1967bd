"""Admin for import sessions: launch (action and button), live status, detail and cancel."""

import json
import re

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from imports import services, status
from imports.forms import LaunchImportForm
from imports.models import ImportSession

MAX_IDS = 200
TASK_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")


def _live(name, description):
    def show(self, session):
        return status.cell(session, name)

    show.short_description = description
    return show


@admin.register(ImportSession)
class ImportSessionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "import_type",
        "status_cell",
        "task_state_cell",
        "started_cell",
        "finished_cell",
        "duration_cell",
    )
    list_display_links = ("id",)
    list_filter = ("status", "import_type")
    search_fields = ("=id", "=celery_task_id")
    actions = ["run_import_action"]
    change_list_template = "admin/imports/importsession/change_list.html"
    change_form_template = "admin/imports/importsession/change_form.html"
    fields = (
        "import_type",
        "status",
        "task_state_cell",
        "celery_task_id",
        "launched_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration_cell",
        "attempts",
        "progress_display",
        "created_count",
        "updated_count",
        "skipped_count",
        "error_count",
        "error_message",
        "report_display",
    )
    readonly_fields = fields

    status_cell = _live("status", "status")
    task_state_cell = _live("task_state", "task state")
    started_cell = _live("started", "started")
    finished_cell = _live("finished", "finished")
    duration_cell = _live("duration", "duration")

    class Media:
        js = ("imports/import_status.js",)

    # --- permissions: sessions are created by launching, never edited ---------
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.is_active)

    def delete_queryset(self, request, queryset):
        active = queryset.filter(status__in=ImportSession.ACTIVE)
        if active.exists():
            self.message_user(request, f"{active.count()} active session(s) kept: cancel them first.", messages.WARNING)
        super().delete_queryset(request, queryset.exclude(status__in=ImportSession.ACTIVE))

    def _can_run(self, request):
        return request.user.has_perm("imports.run_import")

    def _can_cancel(self, request):
        return request.user.has_perm("imports.cancel_import")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._can_run(request):
            actions.pop("run_import_action", None)
        return actions

    # --- detail ----------------------------------------------------------------
    @admin.display(description="progress")
    def progress_display(self, session):
        state = status.task_state(session)
        return f"{state.current} / {state.total} ({state.percent}%)"

    @admin.display(description="report")
    def report_display(self, session):
        if not session.report:
            return "\u2014"
        return format_html("<pre>{}</pre>", json.dumps(session.report, indent=2, ensure_ascii=False))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_cancel": self._can_cancel(request),
            "poll_interval": settings.IMPORT_STATUS_POLL_MS,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_run": self._can_run(request),
            "status_url": reverse("admin:imports_importsession_status"),
            "poll_interval": settings.IMPORT_STATUS_POLL_MS,
        }
        return super().changelist_view(request, extra_context)

    # --- URLs --------------------------------------------------------------------
    def get_urls(self):
        site = self.admin_site
        return [
            path("launch/", site.admin_view(self.launch_view), name="imports_importsession_launch"),
            path("status/", self.status_view, name="imports_importsession_status"),
            path("task/<str:task_id>/", self.task_status_view, name="imports_importsession_task"),
            path("<int:object_id>/cancel/", site.admin_view(self.cancel_view), name="imports_importsession_cancel"),
            *super().get_urls(),
        ]

    # --- launching -------------------------------------------------------------
    def _launch_page(self, request, form, status=200):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Run import",
            "form": form,
            "launch_url": reverse("admin:imports_importsession_launch"),
        }
        return TemplateResponse(request, "admin/imports/importsession/launch.html", context, status=status)

    @admin.action(description="Run import")
    def run_import_action(self, request, queryset):
        """Opens the launch page. The ticked rows do not matter: one confirmation
        starts one session, however many rows were ticked."""
        return self._launch_page(request, LaunchImportForm())

    def launch_view(self, request):
        if not self._can_run(request):
            return self._launch_page(request, LaunchImportForm(), status=403)
        if request.method != "POST":
            return self._launch_page(request, LaunchImportForm())
        form = LaunchImportForm(request.POST)
        if not form.is_valid():
            return self._launch_page(request, form, status=400)
        try:
            session = services.launch_import(form.cleaned_data["import_type"], request.user)
        except services.LaunchRefused as exc:
            form.add_error(None, str(exc))
            return self._launch_page(request, form, status=exc.status)
        self.message_user(request, f"Import #{session.pk} queued (task {session.celery_task_id}).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:imports_importsession_changelist"))

    @method_decorator(require_POST)
    def cancel_view(self, request, object_id):
        session = get_object_or_404(ImportSession, pk=object_id)
        if not self._can_cancel(request):
            self.message_user(request, "You may not cancel imports.", messages.ERROR)
        elif services.cancel_import(session, request.user):
            self.message_user(
                request, f"Import #{session.pk} cancelled; its changes were rolled back.", messages.SUCCESS
            )
        else:
            self.message_user(request, f"Import #{session.pk} had already finished.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:imports_importsession_change", args=[session.pk]))

    # --- live status (JSON, staff only) -------------------------------------------
    def _json_refusal(self, request):
        user = request.user
        if not (user.is_active and user.is_staff):
            return JsonResponse({"error": "staff only: log in to the admin as a staff user"}, status=403)
        if not self.has_view_permission(request):
            return JsonResponse({"error": "you may not view import sessions"}, status=403)
        return None

    def _json(self, sessions):
        error = status.broker_error() if any(session.is_active for session in sessions) else None
        return JsonResponse(
            {
                "sessions": [status.payload(session, broker_down=bool(error)) for session in sessions],
                "broker": {"reachable": error is None, "error": error or ""},
                "active": any(session.is_active for session in sessions),
                "server_time": timezone.localtime().strftime("%H:%M:%S"),
            }
        )

    @method_decorator([never_cache, require_GET])
    def status_view(self, request):
        refusal = self._json_refusal(request)
        if refusal:
            return refusal
        raw = request.GET.get("ids", "")
        try:
            ids = sorted({int(part) for part in raw.split(",") if part.strip()})
        except ValueError:
            return JsonResponse({"error": "ids must be comma-separated session ids, e.g. ?ids=1,2,3"}, status=400)
        if len(ids) > MAX_IDS:
            return JsonResponse({"error": f"at most {MAX_IDS} ids at once"}, status=400)
        queryset = (
            ImportSession.objects.filter(pk__in=ids)
            if ids
            else ImportSession.objects.filter(status__in=ImportSession.ACTIVE)
        )
        return self._json(list(queryset.order_by("pk")))

    @method_decorator([never_cache, require_GET])
    def task_status_view(self, request, task_id):
        refusal = self._json_refusal(request)
        if refusal:
            return refusal
        if not TASK_ID_RE.match(task_id):
            return JsonResponse({"error": "malformed task id"}, status=400)
        session = ImportSession.objects.filter(celery_task_id=task_id).first()
        if session is None:
            return JsonResponse({"error": f"no import session has task id {task_id}"}, status=404)
        return self._json([session])
