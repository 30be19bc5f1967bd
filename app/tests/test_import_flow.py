"""Import sessions end to end: admin -> lock -> real Celery worker -> PostgreSQL."""

import re
import threading

import pytest
import requests
from celery.result import AsyncResult
from django.db import connection
from django.urls import reverse

from catalog.models import Price, Product, Stock
from imports import lock
from imports.models import ImportSession
from tests.conftest import WORKER_APP_NAME, wait_finished, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

CHANGELIST = "admin:imports_importsession_changelist"
LAUNCH = "admin:imports_importsession_launch"
STATUS = "admin:imports_importsession_status"


def launch(client, import_type="full"):
    response = client.post(reverse(LAUNCH), {"import_type": import_type})
    assert response.status_code == 302, response.content.decode()[:2000]
    return ImportSession.objects.latest("id")


def status_of(client, session):
    response = client.get(reverse(STATUS), {"ids": str(session.pk)})
    assert response.status_code == 200
    return response.json()["sessions"][0]


def wait_for_progress(client, session):
    """Wait until the JSON endpoint shows the task part-way through; returns that payload."""

    def part_way():
        payload = status_of(client, session)
        progress = payload["progress"]
        return payload if payload["task_state"] == "progress" and 0 < progress["current"] < progress["total"] else None

    return wait_until(part_way, 60, f"import #{session.pk} to report progress", interval=0.05)


def test_action_with_two_rows_ticked_starts_one_session_and_one_task(admin_client, exchange, publishes):
    exchange.small()
    old = [ImportSession.objects.create(import_type="catalogue", status="succeeded") for _ in range(2)]

    page = admin_client.post(
        reverse(CHANGELIST), {"action": "run_import_action", "_selected_action": [s.pk for s in old]}
    )
    assert page.status_code == 200
    assert 'id="launch-import-form"' in page.content.decode()
    assert ImportSession.objects.count() == 2 and publishes == []  # the page only asks

    session = launch(admin_client, "full")
    assert ImportSession.objects.count() == 3
    assert publishes == [session.celery_task_id]

    wait_finished(session)
    assert session.status == "succeeded", session.error_message
    assert (Product.objects.count(), Price.objects.count(), Stock.objects.count()) == (12, 24, 12)
    assert (session.created_count, session.error_count) == (48, 0)
    assert len(publishes) == 1
    assert lock.holder() is None


def test_run_import_button_needs_no_selection(admin_client, exchange, publishes):
    exchange.small()
    listing = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert f'href="{reverse(LAUNCH)}"' in listing and "Run import" in listing
    assert admin_client.get(reverse(LAUNCH)).status_code == 200
    session = wait_finished(launch(admin_client, "catalogue"))
    assert session.status == "succeeded"
    assert publishes == [session.celery_task_id]


def test_second_launch_while_one_runs_is_refused_not_queued(admin_client, exchange, publishes):
    exchange.large()
    first = launch(admin_client, "catalogue")
    refused = admin_client.post(reverse(LAUNCH), {"import_type": "prices"})
    assert refused.status_code == 409
    assert f"Import #{first.pk}" in refused.content.decode()
    assert ImportSession.objects.count() == 1
    assert publishes == [first.celery_task_id]
    assert wait_finished(first).status == "succeeded"


def test_twenty_concurrent_launches_give_exactly_one_task(live_server, admin_user, client, exchange, publishes):
    exchange.large()  # long enough that the first import still runs when the last request lands
    client.force_login(admin_user)
    cookie = client.cookies["sessionid"].value
    url = live_server.url + reverse(LAUNCH)
    form = requests.get(url, cookies={"sessionid": cookie}, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    cookies = {"sessionid": cookie, "csrftoken": form.cookies["csrftoken"]}

    barrier = threading.Barrier(20)
    codes = []

    def post():
        barrier.wait()
        response = requests.post(
            url,
            data={"csrfmiddlewaretoken": token, "import_type": "catalogue"},
            cookies=cookies,
            allow_redirects=False,
            timeout=30,
        )
        codes.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(codes) == [302] + [409] * 19
    assert ImportSession.objects.count() == 1
    session = ImportSession.objects.get()
    assert publishes == [session.celery_task_id]
    assert wait_finished(session).status == "succeeded"


def test_progress_is_seen_through_the_json_endpoint(admin_client, exchange):
    exchange.large(20000)
    session = launch(admin_client, "catalogue")
    payload = wait_for_progress(admin_client, session)
    assert '<progress max="100"' in payload["cells"]["task_state"]
    assert payload["cells"]["duration"] == "in progress"
    assert payload["active"] is True

    wait_finished(session)
    final = status_of(admin_client, session)
    assert (final["status"], final["task_state"], final["active"]) == ("succeeded", "done", False)
    assert final["progress"] == {"current": 20000, "total": 20000, "percent": 100}
    assert Product.objects.count() == 20000
    # Throttled: a handful of backend writes, not one per product.
    assert 2 <= session.report["progress_writes"] < 500


def test_malformed_xml_fails_the_session_and_leaves_no_rows(admin_client, exchange):
    exchange.small()
    assert wait_finished(launch(admin_client, "catalogue")).status == "succeeded"
    before = dict(Product.objects.values_list("external_id", "name"))

    exchange.large(3000)
    xml = (exchange.path / "import.xml").read_text(encoding="utf-8")
    cut = xml.rindex("</Товар>")
    exchange.write("import.xml", xml[:cut] + "</Товары>" + xml[cut + len("</Товар>") :])

    session = wait_finished(launch(admin_client, "catalogue"))
    assert session.status == "failed"
    assert "import.xml is not well-formed XML (mismatched tag) at line" in session.error_message
    assert dict(Product.objects.values_list("external_id", "name")) == before
    assert lock.holder() is None


def test_wrong_encoding_fails_with_a_readable_message(admin_client, exchange):
    exchange.small()
    text = (exchange.path / "import.xml").read_text(encoding="utf-8")
    exchange.write("import.xml", text.replace("Hammer", "Молоток").encode("cp1251", errors="replace"))
    session = wait_finished(launch(admin_client, "catalogue"))
    assert session.status == "failed"
    assert "not well-formed XML" in session.error_message
    assert "encoding" in session.error_message
    assert Product.objects.count() == 0


def test_missing_file_fails_the_session(admin_client, exchange):
    exchange.small()
    (exchange.path / "offers.xml").unlink()
    session = wait_finished(launch(admin_client, "full"))
    assert session.status == "failed"
    assert session.error_message == f"offers.xml is missing from {exchange.path} (IMPORT_DATA_DIR)"
    assert Product.objects.count() == 0  # import.xml was fine, but the run is all or nothing


def test_transient_database_error_is_retried(admin_client, exchange):
    exchange.large(20000)
    session = launch(admin_client, "catalogue")
    wait_for_progress(admin_client, session)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            [WORKER_APP_NAME],
        )
        assert cursor.fetchone()[0] >= 1

    seen = wait_until(
        lambda: status_of(admin_client, session)["task_state"] == "retrying",
        30,
        "the session to show retrying",
        interval=0.05,
    )
    assert seen
    wait_finished(session)
    assert session.status == "succeeded", session.error_message
    assert session.attempts == 2
    assert session.report["retries"][0]["attempt"] == 1
    assert "OperationalError" in session.report["retries"][0]["error"]
    # The first attempt was rolled back: the second created every product.
    assert (session.created_count, session.updated_count) == (20000, 0)
    assert Product.objects.count() == 20000


def test_cancel_revokes_the_task_rolls_back_and_frees_the_lock(admin_client, exchange, publishes):
    exchange.large(20000)
    session = launch(admin_client, "full")
    wait_for_progress(admin_client, session)
    detail = admin_client.get(reverse("admin:imports_importsession_change", args=[session.pk])).content.decode()
    assert session.celery_task_id in detail and 'id="cancel-import-button"' in detail

    response = admin_client.post(reverse("admin:imports_importsession_cancel", args=[session.pk]))
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "cancelled" and session.finished_at is not None
    assert lock.holder() is None
    wait_until(lambda: AsyncResult(session.celery_task_id).state == "REVOKED", 30, "the task to be revoked")
    wait_until(lambda: not _worker_in_transaction(), 30, "the worker's transaction to end")
    assert Product.objects.count() == 0
    session.refresh_from_db()
    assert session.status == "cancelled"  # the task did not overwrite it

    # The lock is free: the next launch goes through.
    exchange.small()
    again = wait_finished(launch(admin_client, "catalogue"))
    assert again.status == "succeeded"
    assert publishes == [session.celery_task_id, again.celery_task_id]


def _worker_in_transaction():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state LIKE 'idle in transaction%%'"
            " OR (application_name = %s AND state = 'active')",
            [WORKER_APP_NAME, WORKER_APP_NAME],
        )
        return cursor.fetchone()[0]


def test_soft_time_limit_fails_the_session_with_the_reason(exchange):
    from imports.services import launch_import

    exchange.large(20000)
    session = wait_finished(launch_import("catalogue", soft_time_limit=0.5))
    assert session.status == "failed"
    assert session.error_message.startswith("stopped by the soft time limit (0.5 s)")
    assert Product.objects.count() == 0
    assert lock.holder() is None


def test_a_second_delivery_of_the_task_does_nothing(admin_client, exchange, worker):
    """Redis hands an unacknowledged message out again after its worker died (at
    the visibility timeout). By then the sweep has closed the session and another
    import may hold the lock: the old message must change nothing."""
    from imports.tasks import run_import

    exchange.small()
    session = wait_finished(launch(admin_client, "catalogue"))
    assert session.status == "succeeded"
    ImportSession.objects.filter(pk=session.pk).update(status="failed", error_message="closed by the sweep")
    assert lock.acquire("another-import")
    products = Product.objects.count()

    run_import.apply_async((session.pk,), task_id=session.celery_task_id)
    wait_until(
        lambda: f"import #{session.pk} is failed already; this delivery of its task does nothing" in worker.log(),
        30,
        "the worker to skip the second delivery",
    )
    session.refresh_from_db()
    assert (session.status, session.error_message) == ("failed", "closed by the sweep")
    assert lock.holder() == "another-import"
    assert Product.objects.count() == products
    assert AsyncResult(session.celery_task_id).state == "SUCCESS"  # its first run's result stands
