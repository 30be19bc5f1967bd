"""The admin's JavaScript in a real (headless Chromium) browser.

Checks what no server-side test can: the launch button disables itself on the
first click, and the list updates its cells in place while an import runs,
shows "updated HH:MM:SS", and stops polling once nothing is active.
"""

import re
import shutil
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from imports.models import ImportSession

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

STATUS_PATH = "/admin/imports/importsession/status/"


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("chromium and chromedriver are not installed: run `bash scripts/services.sh up`")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):  # fmt: skip
        options.add_argument(argument)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    yield session
    session.quit()


@pytest.fixture
def logged_in(browser, live_server, client, admin_user, settings):
    settings.IMPORT_STATUS_POLL_MS = 1000  # the default is 5 s; the behaviour is the same
    client.force_login(admin_user)
    browser.get(live_server.url + "/healthz")
    browser.delete_all_cookies()
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    return browser


def cell(browser, session, name):
    return browser.find_element(
        By.CSS_SELECTOR, f'.import-cell[data-import-session="{session.pk}"][data-cell="{name}"]'
    )


def status_requests(browser):
    return browser.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes(arguments[0])).length",
        STATUS_PATH,
    )


def test_launch_button_disables_itself_and_the_list_updates_in_place(logged_in, live_server, exchange, publishes):
    browser = logged_in
    exchange.large(60000)  # a few seconds of work: several polls see it running
    browser.get(live_server.url + "/admin/imports/importsession/")
    browser.find_element(By.ID, "run-import-button").click()
    browser.find_element(By.CSS_SELECTOR, 'input[name="import_type"][value="catalogue"]').click()

    # Two clicks in the same instant: the first submits and disables the button.
    state = browser.execute_script(
        "const b = document.getElementById('launch-import-submit'); b.click(); b.click();return [b.disabled, b.value];"
    )
    assert state == [True, "Starting\u2026"]
    wait = WebDriverWait(browser, 60, poll_frequency=0.1)
    wait.until(lambda b: b.current_url.endswith("/admin/imports/importsession/"))
    session = ImportSession.objects.get()
    assert publishes == [session.celery_task_id]

    browser.execute_script("window.loadedOnce = 'yes';")  # gone if the page reloads
    wait.until(lambda b: "<progress" in cell(b, session, "task_state").get_attribute("innerHTML"))
    assert re.search(r"\bIn progress \d+%", cell(browser, session, "task_state").text)
    assert cell(browser, session, "duration").text == "in progress"
    assert re.fullmatch(r"updated \d\d:\d\d:\d\d", browser.find_element(By.ID, "import-live").text)

    wait.until(lambda b: "Done" in cell(b, session, "task_state").text)
    assert browser.execute_script("return window.loadedOnce") == "yes"
    assert cell(browser, session, "status").text == "Succeeded"
    assert re.fullmatch(r"\d+\.\d s", cell(browser, session, "duration").text)
    assert re.fullmatch(
        r"updated \d\d:\d\d:\d\d \u2014 nothing running", browser.find_element(By.ID, "import-live").text
    )

    polls = status_requests(browser)
    assert polls >= 2
    time.sleep(3)  # three intervals: a live poller would have asked again
    assert status_requests(browser) == polls


def test_a_page_with_nothing_active_never_polls(logged_in, live_server):
    ImportSession.objects.create(import_type="full", status="succeeded")
    logged_in.get(live_server.url + "/admin/imports/importsession/")
    time.sleep(2.5)
    assert status_requests(logged_in) == 0
    assert logged_in.find_element(By.ID, "import-live").text == ""
