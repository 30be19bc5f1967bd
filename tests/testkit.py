"""Helpers shared by the stack and end-to-end suites (and the benchmarks).

Their conftest.py files put tests/ on sys.path so that `import testkit` works."""

import re
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
