"""HTTPS on the sandbox with a real ACME CA: Pebble (Let's Encrypt's test server) beside the VDS.

The shared sandbox is deployed again with a public-looking domain and django_stack_tls: acme, pointed at
Pebble's directory. Pebble's DNS answers every name with the VDS's address, so its HTTP-01 validation
reaches the VDS's nginx through the firewall, as Let's Encrypt's would. The checks connect to the VDS's
address with the site's name (SNI and Host) and trust only Pebble's root. The last test turns HTTPS off
again, leaving the sandbox as `make demo` makes it.
"""

import base64
import http.client
import json
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest
from cryptography import x509
from e2ekit import container, playbook, secret, ssh, unfolded
from testkit import wait_until

DOMAIN = "shop.kit.test"
PEBBLE = "kit-pebble"
NETWORK = "kit-sandbox"
ACME_IMAGE = "kit-local/acme-test:13"


def docker(*args, check=True):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result.stdout


def network_ip(container):
    """The container's address on the sandbox's network."""
    return docker(
        "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', container
    ).strip()


@pytest.fixture(scope="module")
def vds_ip():
    return network_ip("kit-vds")


@pytest.fixture(scope="module")
def pebble(vds_ip):
    """Pebble on the sandbox's network, resolving every name to the VDS; its issuing root (PEM)."""
    if not docker("image", "ls", "-q", ACME_IMAGE):
        pytest.fail(f"{ACME_IMAGE} is missing: run `bash scripts/images/build.sh acme` (make test-e2e does)")
    docker("rm", "-f", PEBBLE, check=False)
    docker("run", "-d", "--name", PEBBLE, "--network", NETWORK, "-e", f"KIT_VDS_IPV4={vds_ip}", ACME_IMAGE)
    # Pebble logs to stdout.
    wait_until(lambda: "Listening on" in docker("logs", PEBBLE), 30, f"Pebble to listen (docker logs {PEBBLE})")
    yield {
        "wfe_ca": docker("exec", PEBBLE, "cat", "/etc/pebble/ca.pem"),
        "roots": lambda: docker("exec", PEBBLE, "curl", "-fsS", "-k", "https://127.0.0.1:15000/roots/0"),
    }
    docker("rm", "-f", PEBBLE, check=False)


@pytest.fixture(scope="module")
def https_vars(pebble, tmp_path_factory):
    """The inventory's changes for HTTPS by ACME against Pebble, as an extra-vars file."""
    extra = tmp_path_factory.mktemp("https") / "https.json"
    extra.write_text(
        json.dumps(
            {
                "django_stack_domain": DOMAIN,
                "django_stack_allowed_hosts": [DOMAIN, "localhost", "127.0.0.1"],
                "django_stack_csrf_trusted_origins": [f"https://{DOMAIN}"],
                "django_stack_tls": "acme",
                "django_stack_acme_email": "ops@kit.test",
                "django_stack_acme_directory": f"https://{PEBBLE}:14000/dir",
                "django_stack_acme_ca_certificate": pebble["wfe_ca"],
                # Flower at a path of the site too (an HTTPS site only).
                "django_stack_flower_path": "/flower/",
            }
        )
    )
    return extra


@pytest.fixture(scope="module")
def https(deployed, https_vars):
    """The sandbox deployed with HTTPS by ACME against Pebble; the playbook's output."""
    _, output, recap = playbook("site.yml", "--tags", "deploy", "-e", f"@{https_vars}")
    assert recap["failed"] == 0, recap
    return {"output": output, "extra": https_vars}


def context(root_pem, alpn=None):
    ctx = ssl.create_default_context(cadata=root_pem)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class SiteConnection(http.client.HTTPSConnection):
    """HTTPS to the VDS's address under the site's name (SNI, Host, the certificate's check)."""

    def __init__(self, ip, ctx, timeout=10):
        super().__init__(DOMAIN, 443, context=ctx, timeout=timeout)
        self.ip = ip

    def connect(self):
        sock = socket.create_connection((self.ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch(ip, ctx, method, path, body=None, headers=None):
    """One request on a new connection: (status, headers as a list, body, the peer certificate's DER)."""
    conn = SiteConnection(ip, ctx)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        certificate = conn.sock.getpeercert(binary_form=True)
        answer = conn.getresponse()
        return answer.status, answer.getheaders(), answer.read(), certificate
    finally:
        conn.close()


def plain_get(ip, path, host=DOMAIN):
    """GET over plain HTTP to the VDS's port 80: (status, Location, body)."""
    conn = http.client.HTTPConnection(ip, 80, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        answer = conn.getresponse()
        return answer.status, answer.getheader("Location"), answer.read()
    finally:
        conn.close()


def served_certificate(ip):
    """The leaf nginx serves for the domain now, as PEM text (no verification)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((ip, 443), 10) as sock, ctx.wrap_socket(sock, server_hostname=DOMAIN) as tls:
        return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))


def test_a_dry_run_shows_the_switch_to_https_and_changes_nothing(deployed, https_vars, vds_ip):
    """Before the HTTPS deploy: --check --diff passes on the HTTP host and shows what would change."""
    returncode, output, recap = playbook(
        "site.yml", "--tags", "deploy", "--check", "--diff", "-e", f"@{https_vars}", check=False
    )
    assert returncode == 0 and recap["failed"] == 0, output[-3000:]
    assert '"directory": "https://kit-pebble:14000/dir"' in output  # the request certbot would send
    assert "+        return 301 https://$host$request_uri;" in output  # the HTTPS site in place of the HTTP one
    assert "+ SECURE_COOKIES=true" in output  # the env file's lines
    assert plain_get(vds_ip, "/readyz", host="localhost")[0] == 200  # still plain HTTP
    assert ssh("sudo test -e /etc/letsencrypt/live/shop || echo none").stdout.strip() == "none"


def test_the_certificate_comes_from_the_acme_ca_by_http01(https, pebble, vds_ip):
    ctx = context(pebble["roots"](), alpn=["h2", "http/1.1"])
    with socket.create_connection((vds_ip, 443), 10) as sock, ctx.wrap_socket(sock, server_hostname=DOMAIN) as tls:
        subject_names = [value for kind, value in tls.getpeercert()["subjectAltName"] if kind == "DNS"]
        assert subject_names == [DOMAIN]
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.selected_alpn_protocol() == "h2"  # HTTP/2 on
    # The same certificate certbot keeps, renewed by its timer.
    live = ssh("sudo cat /etc/letsencrypt/live/shop/cert.pem").stdout
    assert ssl.PEM_cert_to_DER_cert(live) == ssl.PEM_cert_to_DER_cert(served_certificate(vds_ip))
    assert ssh("systemctl is-enabled certbot.timer; systemctl is-active certbot.timer").stdout.split() == [
        "enabled",
        "active",
    ]
    # Pebble fetched the HTTP-01 token from the VDS's nginx, on port 80, from its own address.
    pebble_ip = network_ip(PEBBLE)
    access_log = ssh("docker logs shop-proxy-1 2>/dev/null").stdout
    assert re.search(
        rf'^{re.escape(pebble_ip)} .*"GET /\.well-known/acme-challenge/\S+ HTTP/1\.1" 200 ', access_log, re.M
    )


def test_port_80_redirects_to_https_but_for_the_acme_challenges(https, vds_ip):
    status, location, _ = plain_get(vds_ip, "/admin/login/?next=/admin/")
    assert (status, location) == (301, f"https://{DOMAIN}/admin/login/?next=/admin/")
    # A token certbot would write is served as it is, not redirected.
    ssh(
        "sudo mkdir -p /srv/shop/acme/.well-known/acme-challenge"
        " && echo kit-token | sudo tee /srv/shop/acme/.well-known/acme-challenge/kit-probe >/dev/null"
    )
    try:
        status, _, body = plain_get(vds_ip, "/.well-known/acme-challenge/kit-probe")
        assert (status, body) == (200, b"kit-token\n")
    finally:
        ssh("sudo rm -f /srv/shop/acme/.well-known/acme-challenge/kit-probe")


def test_admin_login_over_https_sends_hsts_and_secure_cookies(https, pebble, vds_ip):
    ctx = context(pebble["roots"]())
    status, headers, body, _ = fetch(vds_ip, ctx, "GET", "/admin/login/")
    assert status == 200
    assert ("Strict-Transport-Security", "max-age=31536000") in headers  # no preload, no subdomains by default
    cookies = [value for name, value in headers if name.lower() == "set-cookie"]
    csrf_cookie = next(c for c in cookies if c.startswith("csrftoken="))
    assert "; Secure" in csrf_cookie, csrf_cookie
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    form = f"csrfmiddlewaretoken={token}&username=admin&password={secret('admin_password')}&next=/admin/"
    status, headers, _, _ = fetch(vds_ip, ctx, "POST", "/admin/login/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": csrf_cookie.split(";")[0],
        "Referer": f"https://{DOMAIN}/admin/login/",
    })  # fmt: skip
    assert status == 302, headers
    session_cookie = next(v for n, v in headers if n.lower() == "set-cookie" and v.startswith("sessionid="))
    assert "; Secure" in session_cookie and "; HttpOnly" in session_cookie, session_cookie


def test_a_renewal_is_served_without_a_failed_request(https, pebble, vds_ip):
    """certbot renews as its timer would (forced: the certificate is new); a probe runs all along."""
    ctx = context(pebble["roots"]())
    before = served_certificate(vds_ip)
    seen, failures, stop = [], [], threading.Event()

    def probe():
        while not stop.is_set():
            try:
                status, _, _, der = fetch(vds_ip, ctx, "GET", "/healthz")
                seen.append((status, der))
                if status != 200:
                    failures.append(status)
            except Exception as exc:  # any failure is a failed request
                failures.append(repr(exc))

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        time.sleep(2)
        renewal = ssh(
            "sudo certbot renew --force-renewal --cert-name shop --no-random-sleep-on-renew 2>&1", timeout=300
        )
        deadline = time.monotonic() + 30
        while served_certificate(vds_ip) == before and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)
    finally:
        stop.set()
        thread.join(30)
    after = served_certificate(vds_ip)
    assert after != before, renewal.stdout
    assert "kit-tls-install: shop's nginx reloaded" in renewal.stdout, renewal.stdout
    served = [ssl.DER_cert_to_PEM_cert(der) for _, der in seen]
    assert before in served and after in served, "the probe did not see both certificates"
    assert failures == [], failures[:5]
    print(f"renewal: {len(seen)} requests during it, {served.count(before)} with the old certificate, none failed")


def test_a_tls_scan_finds_no_old_protocol_and_no_weak_cipher(https, vds_ip):
    scan = subprocess.run(
        ["docker", "exec", PEBBLE, "testssl", "--quiet", "--warnings", "off", "--color", "0", "--sneaky",
         "--protocols", "--std", "--fs", "--jsonfile", "/tmp/scan.json", "--ip", vds_ip, f"https://{DOMAIN}/"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    findings = {item["id"]: item for item in json.loads(docker("exec", PEBBLE, "cat", "/tmp/scan.json"))}
    assert findings, scan.stdout[-3000:]
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert findings[old]["finding"].startswith("not offered"), findings[old]
    for current in ("TLS1_2", "TLS1_3"):
        assert findings[current]["finding"].startswith("offered"), findings[current]
    for weak in ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA",
                 "cipherlist_OBSOLETED", "cipherlist_STRONG_NOFS"):  # fmt: skip
        assert findings[weak]["finding"].startswith("not offered"), findings[weak]
    bad = [f for f in findings.values() if f["severity"] in ("MEDIUM", "HIGH", "CRITICAL")]
    assert bad == [], bad


def send_tasks(name, args, count=1, wait=True):
    """Send tasks through the shop's own Celery app in the web container; wait for the first one's result."""
    code = f"from deploykit.celeryapp import app; sent = [app.send_task({name!r}, {args!r}) for _ in range({count})]"
    if wait:
        code += "; sent[0].get(propagate=False, timeout=30)"
    ssh(f'docker exec {container("web")} python -c "{code}"')


def test_flower_answers_at_its_path_only_over_https_and_behind_its_login(https, vds_ip, pebble):
    """django_stack_flower_path: nginx sends /flower/ to Flower, which asks for its own login; port 80 only
    redirects."""
    ctx = context(pebble["roots"]())
    status, _, _, _ = fetch(vds_ip, ctx, "GET", "/flower/")
    assert status == 401
    login = base64.b64encode(f"admin:{secret('flower_password')}".encode()).decode()
    status, _, body, _ = fetch(vds_ip, ctx, "GET", "/flower/workers", headers={"Authorization": f"Basic {login}"})
    assert status == 200 and b"worker@" in body, (status, body[:300])
    assert plain_get(vds_ip, "/flower/")[0] == 301


def test_status_shows_the_stack_then_fails_naming_a_stopped_worker(https, vds_ip):
    """playbooks/status.yml on the HTTPS host: every service running healthy, the release, Celery's queues,
    worker and a failed task, the volumes, the certificate nginx serves and the backups. With the worker
    stopped and tasks waiting, it fails naming the worker."""
    extra = ("-e", f"@{https['extra']}")
    release = re.search(r"(?m)^APP_TAG=(.*)$", ssh("sudo cat /srv/shop/.env").stdout)[1]
    send_tasks("core.example_async_task", ["status", -1])  # fails: ValueError
    _, output, recap = playbook("status.yml", *extra)
    seen = unfolded(output.replace("'", ""))  # and the quotes of yaml's scalars
    assert recap["failed"] == 0 and "problems: none" in seen, output[-3000:]
    for service in ("db", "redis", "web", "worker", "beat", "proxy", "flower"):
        assert re.search(rf" - {service} shop-{service}-\d+ running healthy ", seen), (service, output[-4000:])
    assert f" - release: {release} - " in seen, output[-4000:]
    assert re.search(r" - queues: [^-]*\bcelery 0\b", seen), output[-4000:]
    assert re.search(r" - workers: \S+@\S+ \(0 active\) - ", seen), output[-4000:]
    assert re.search(r" - tasks of the last 24 h: [^-]*FAILURE \d+, [^-]*SUCCESS \d+", seen), output[-4000:]
    assert re.search(r" - failed \S+: \S+ \S+: ValueError: count must be 0 or more, not -1 - ", seen), seen[-3000:]
    assert re.search(r" - volumes: .*?\bshop_db-data \d+(\.\d+)? [KMG]?B", seen), output[-4000:]
    not_after = x509.load_pem_x509_certificate(served_certificate(vds_ip).encode()).not_valid_after_utc
    assert f" - certificate: {DOMAIN}, expires {not_after:%Y-%m-%d %H:%M:%S} UTC, in " in seen, output[-4000:]
    assert " - last backup: " in seen and " - last drill: " in seen, output[-4000:]  # the backup role's status

    worker = container("worker")
    ssh(f"docker stop {worker}")
    try:
        send_tasks("deploykit.ping", ["status"], count=2, wait=False)
        returncode, output, recap = playbook("status.yml", *extra, check=False)
        seen = unfolded(output.replace("'", ""))  # and the quotes of yaml's scalars
        assert returncode != 0 and recap["failed"] == 1, output[-3000:]
        assert re.search(r" - worker shop-worker-\d+ exited ", seen), output[-4000:]
        assert "msg: shop on sandbox: worker is not running; no Celery worker answered." in seen, output[-3000:]
        assert int(re.search(r" - queues: [^-]*\bcelery (\d+)\b", seen)[1]) >= 2, output[-4000:]
        assert "last backup: " in seen, "the backups' status is shown after the stack's failure"
    finally:
        ssh(f"docker start {worker}")
        health = f"docker inspect -f '{{{{.State.Health.Status}}}}' {worker}"
        wait_until(lambda: ssh(health).stdout.strip() == "healthy", 60, "the worker to be healthy again")


def test_a_dry_run_on_the_https_host_changes_nothing(https):
    _, output, recap = playbook("site.yml", "--tags", "deploy", "--check", "--diff", "-e", f"@{https['extra']}")
    assert recap["changed"] == 0 and recap["failed"] == 0, output[-3000:]


def test_https_off_again_brings_plain_http_back(https, vds_ip):
    _, _, recap = playbook("site.yml", "--tags", "deploy")
    assert recap["failed"] == 0
    assert plain_get(vds_ip, "/readyz", host="localhost")[0] == 200
    assert "SECURE_COOKIES=false" in ssh("sudo cat /srv/shop/.env").stdout.splitlines()
