"""Helpers shared by the stack and end-to-end suites (and the benchmarks).

Their conftest.py files put tests/ on sys.path so that `import testkit` works."""

import re
import threading
import time

import pytest
import requests

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def wait_until(predicate, timeout, what, interval=0.5):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def csrf_token(http, url):
    page = http.get(url, timeout=10)
    page.raise_for_status()
    return CSRF.search(page.text).group(1)


def admin_session(base_url, username, password):
    """A requests session logged into the Django admin at ``base_url``."""
    http = requests.Session()
    token = csrf_token(http, f"{base_url}/admin/login/")
    response = http.post(
        f"{base_url}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        headers={"Referer": f"{base_url}/admin/login/"},
        timeout=10,
    )
    response.raise_for_status()
    assert "Log out" in response.text, response.text[:500]
    return http


FIGURES = []


def figure():
    """A fixture's body (each suite's conftest.py makes it one): record a measured figure."""

    def record(name, value):
        FIGURES.append((name, value))
        print(f"figure: {name}: {value}", flush=True)

    return record


def report_figures(terminalreporter, suite):
    """For pytest_terminal_summary: every figure the run measured, together."""
    if FIGURES:
        terminalreporter.section(f"figures measured by {suite}")
        for name, value in FIGURES:
            terminalreporter.write_line(f"{name}: {value}")


class Probe:
    """GETs at a steady rate while the block runs, as users would send them; records each answer that is not a 200.

    Each request has its own thread, so a slow answer does not lower the rate."""

    def __init__(self, url, rate=20):
        self.url, self.interval = url, 1 / rate
        self.sent, self.failures = 0, []
        self._stop, self._threads = threading.Event(), []

    def _get(self):
        try:
            status = requests.get(self.url, timeout=15).status_code
        except requests.RequestException as error:
            status = f"{type(error).__name__}: {error}"[:160]
        if status != 200:
            self.failures.append((time.strftime("%H:%M:%S"), status))

    def _run(self):
        while not self._stop.is_set():
            thread = threading.Thread(target=self._get, daemon=True)
            thread.start()
            self._threads.append(thread)
            self.sent += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._threads.append(threading.Thread(target=self._run, daemon=True))
        self._threads[0].start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in list(self._threads):
            thread.join(30)
        print(f"probe: {self.sent} GETs of {self.url}, {len(self.failures)} failed: {self.failures[:10]}")
