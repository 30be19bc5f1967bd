"""The staff-only JSON status endpoints and the admin pages around them."""

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from imports.models import ImportSession

pytestmark = pytest.mark.django_db

STATUS = "admin:imports_importsession_status"


@pytest.fixture
def sessions():
    return [
        ImportSession.objects.create(import_type="catalogue", status="succeeded"),
        ImportSession.objects.create(import_type="prices", status="failed", error_message="offers.xml is missing"),
    ]


def test_anonymous_caller_is_refused(client, sessions):
    response = client.get(reverse(STATUS), {"ids": sessions[0].pk})
    assert response.status_code == 403
    assert response.json() == {"error": "staff only: log in to the admin as a staff user"}


def test_non_staff_user_is_refused(client, sessions):
    user = User.objects.create_user("shopper", password="pw-123456789")
    user.user_permissions.add(Permission.objects.get(codename="view_importsession"))
    client.force_login(user)
    response = client.get(reverse(STATUS), {"ids": sessions[0].pk})
    assert response.status_code == 403
    assert "staff only" in response.json()["error"]


def test_staff_without_view_permission_is_refused(client, sessions):
    client.force_login(User.objects.create_user("clerk", password="pw-123456789", is_staff=True))
    response = client.get(reverse(STATUS), {"ids": sessions[0].pk})
    assert response.status_code == 403
    assert response.json() == {"error": "you may not view import sessions"}


def test_staff_with_view_permission_gets_the_sessions(client, sessions):
    user = User.objects.create_user("viewer", password="pw-123456789", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_importsession"))
    client.force_login(user)
    data = client.get(reverse(STATUS), {"ids": f"{sessions[0].pk},{sessions[1].pk}"}).json()
    assert [(s["id"], s["task_state"], s["active"]) for s in data["sessions"]] == [
        (sessions[0].pk, "done", False),
        (sessions[1].pk, "failed", False),
    ]
    assert data["active"] is False
    assert data["sessions"][1]["error"] == "offers.xml is missing"
    assert "\u2716 Failed" in data["sessions"][1]["cells"]["task_state"]


@pytest.mark.parametrize("ids", ["abc", "1,two", "1;2"])
def test_malformed_ids_are_a_400(admin_client, ids):
    response = admin_client.get(reverse(STATUS), {"ids": ids})
    assert response.status_code == 400
    assert "comma-separated session ids" in response.json()["error"]


def test_too_many_ids_are_a_400(admin_client):
    response = admin_client.get(reverse(STATUS), {"ids": ",".join(str(n) for n in range(1, 300))})
    assert response.status_code == 400


def test_unknown_task_id_is_a_404(admin_client, sessions):
    url = reverse("admin:imports_importsession_task", args=["0f0f0f0f-dead-beef-0000-000000000000"])
    response = admin_client.get(url)
    assert response.status_code == 404
    assert response.json()["error"] == "no import session has task id 0f0f0f0f-dead-beef-0000-000000000000"


def test_known_task_id_answers(admin_client):
    session = ImportSession.objects.create(import_type="stock", status="cancelled", celery_task_id="abc-123")
    data = admin_client.get(reverse("admin:imports_importsession_task", args=["abc-123"])).json()
    assert [(s["id"], s["task_state"]) for s in data["sessions"]] == [(session.pk, "cancelled")]


def test_malformed_task_id_is_a_400(admin_client):
    response = admin_client.get(reverse("admin:imports_importsession_task", args=["bad$id"]))
    assert response.status_code == 400


def test_status_endpoint_is_get_only(admin_client):
    assert admin_client.post(reverse(STATUS)).status_code == 405


def test_list_page_has_the_columns_and_the_live_script(admin_client, sessions):
    page = admin_client.get(reverse("admin:imports_importsession_changelist")).content.decode()
    for header in ("task state", "started", "finished", "duration"):
        assert f">{header.capitalize()}<" in page or f">{header}<" in page.lower()
    assert "imports/import_status.js" in page
    assert f'data-status-url="{reverse(STATUS)}"' in page
    assert 'data-interval="5000"' in page
    assert f'data-import-session="{sessions[0].pk}" data-cell="task_state" data-active="0"' in page


def test_unknown_import_type_is_refused_before_anything_changes(admin_client, publishes):
    response = admin_client.post(reverse("admin:imports_importsession_launch"), {"import_type": "everything-please"})
    assert response.status_code == 400
    assert "Unknown import type everything-please" in response.content.decode()
    assert ImportSession.objects.count() == 0 and publishes == []


def test_missing_data_directory_is_refused_before_anything_changes(admin_client, settings, tmp_path, publishes):
    settings.IMPORT_DATA_DIR = tmp_path / "no-such-dir"
    response = admin_client.post(reverse("admin:imports_importsession_launch"), {"import_type": "full"})
    assert response.status_code == 400
    page = response.content.decode()
    assert f"The import data directory {tmp_path / 'no-such-dir'} does not exist" in page
    assert "IMPORT_DATA_DIR" in page
    assert ImportSession.objects.count() == 0 and publishes == []


def test_user_without_run_permission_cannot_launch(client, exchange, publishes):
    user = User.objects.create_user("viewer", password="pw-123456789", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_importsession"))
    client.force_login(user)
    response = client.post(reverse("admin:imports_importsession_launch"), {"import_type": "full"})
    assert response.status_code == 403
    assert ImportSession.objects.count() == 0 and publishes == []
    listing = client.get(reverse("admin:imports_importsession_changelist")).content.decode()
    assert "run-import-button" not in listing
