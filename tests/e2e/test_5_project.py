"""A second project, examples/notes, deployed by the same site.yml with inventory changes only.

inventories/notes is layered over inventories/local: the notes stack lives
beside the shop on the same sandbox VDS (/srv/notes, nginx on the VDS's port
8082), so the checks reach it over SSH, from inside the VDS.
"""

import json
import shlex
import shutil
import subprocess

import pytest
from e2ekit import BASE_URL, ROOT, container, playbook, ssh, unfolded, wait_until

NOTES = ("-i", "inventories/local", "-i", "inventories/notes")
NOTES_URL = "http://127.0.0.1:8082"
SERVICES = {"db", "redis", "web", "worker", "beat", "proxy"}


@pytest.fixture(scope="module")
def notes(deployed):
    """site.yml with the notes inventory, after the shop's deploy (the `deployed` fixture)."""
    _, output, recap = playbook("site.yml", *NOTES)
    assert recap["failed"] == 0, output[-3000:]
    return output


def in_web(code):
    """Python in the running notes web container, Django set up; returns its stdout."""
    script = f"import django; django.setup()\n{code}"
    return ssh(f"docker exec {container('web', 'notes')} python -c {shlex.quote(script)}").stdout.strip()


def containers():
    """{service: (container id, started at)} of the notes project."""
    out = ssh(
        "docker ps --all --filter label=com.docker.compose.project=notes --format '{{.ID}}' "
        "| xargs -r docker inspect --format "
        "'{{index .Config.Labels \"com.docker.compose.service\"}} {{.Id}} {{.State.StartedAt}}'"
    ).stdout
    return {service: (cid, started) for service, cid, started in (line.split() for line in out.splitlines())}


def test_its_page_answers_through_nginx(notes):
    answer = ssh(f"curl -sS -i {NOTES_URL}/").stdout
    head, _, body = answer.partition("\n\n")  # text mode: curl's CRLFs read as LFs
    assert head.startswith("HTTP/1.1 200"), head
    assert "Server: nginx" in head
    assert "<title>Notes</title>" in body
    assert "/static/notes/notes.css" in body
    # The shop beside it is untouched, on its own port.
    assert ssh("curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:80/readyz").stdout == "200"


def test_its_static_file_is_served_by_nginx(notes):
    answer = ssh(f"curl -sS -i {NOTES_URL}/static/notes/notes.css").stdout
    head, _, body = answer.partition("\n\n")  # text mode: curl's CRLFs read as LFs
    assert head.startswith("HTTP/1.1 200"), head
    assert "notes.css: served by nginx" in body
    # nginx's static location (compose/nginx/default.conf) adds these; gunicorn would not.
    assert "Cache-Control: public" in head and "Expires:" in head


def test_its_migration_ran(notes):
    out = ssh(f"docker exec {container('web', 'notes')} python -m django showmigrations notes").stdout
    assert "[X] 0001_initial" in out, out


def test_a_task_round_trip_through_its_own_celery_app(notes):
    out = in_web(
        "from notes.models import Note; from notes.tasks import count_words\n"
        "note = Note.objects.create(text='one two three four five')\n"
        "print(count_words.delay(note.id).get(timeout=60), Note.objects.get(pk=note.pk).words)"
    )
    assert out == "5 5"


def test_its_periodic_task_runs_from_beat(notes):
    def stamped():
        return int(
            in_web(
                "from notes.models import Note; print(Note.objects.filter(text__startswith='stamp from beat').count())"
            )
        )

    wait_until(stamped, 60, "beat's stamp task to write a note", interval=5)


def test_worker_and_beat_run_as_nobody_and_every_service_is_healthy(notes):
    for service in ("worker", "beat"):
        assert ssh(f"docker exec notes-{service}-1 id -u").stdout.strip() == "65534"
        assert ssh(f"docker exec notes-{service}-1 id -g").stdout.strip() == "65534"
    states = ssh(
        "docker ps --filter label=com.docker.compose.project=notes "
        "--format '{{.Label \"com.docker.compose.service\"}} {{.Status}}'"
    ).stdout.splitlines()
    healthy = {line.split()[0] for line in states if "(healthy)" in line}
    assert healthy == SERVICES, states


def test_its_image_holds_its_code_and_not_the_shops(notes):
    listing = ssh(f"docker exec {container('web', 'notes')} ls /app").stdout.split()
    assert {"notes", "notes_site", "manage.py", "uv.lock"} <= set(listing), listing
    assert not {"config", "catalog", "imports", "core"} & set(listing), listing
    found = ssh(
        f"docker exec {container('web', 'notes')} sh -c"
        " 'find / -xdev -name import.xml -o -xdev -name commerceml.py | head'"
    )
    assert found.stdout.strip() == ""
    # The inventory's extra Debian package (django_stack_apt_packages) is in it.
    assert "Status: install ok installed" in ssh(f"docker exec {container('web', 'notes')} dpkg -s tzdata").stdout


def refused(*extra):
    """A notes deploy that must stop before the running stack changes; returns its output, unwrapped."""
    before = containers()
    code, output, _ = playbook("site.yml", *NOTES, "--tags", "deploy", *extra, check=False)
    assert code != 0, output[-3000:]
    assert containers() == before, "the running notes stack was touched"
    return unfolded(output)


def test_a_projects_own_check_refuses_a_bad_value_before_anything_starts(notes):
    env = {"NOTES_PAGE_SIZE": 500, "POSTGRES_USER": "notes", "POSTGRES_DB": "notes", "GUNICORN_WORKERS": 1,
           "CELERY_WORKER_CONCURRENCY": 1, "WORKER_STOP_GRACE_PERIOD": "30s"}  # fmt: skip
    output = refused("-e", json.dumps({"django_stack_env": env}))
    assert "configuration error: NOTES_PAGE_SIZE must be from 1 to 100, not 500" in output
    assert "NOTES_PAGE_SIZE=30" in ssh("sudo cat /srv/notes/.env").stdout  # the previous file is back


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "django_stack_wsgi_app",
            "notes_site.wsgy:application",
            "KIT_WSGI_APP 'notes_site.wsgy:application': importing the WSGI app fails with ModuleNotFoundError",
        ),
        (
            "django_stack_settings_module",
            "notes_site.settings.prod",
            "DJANGO_SETTINGS_MODULE 'notes_site.settings.prod': loading the settings fails with ModuleNotFoundError",
        ),
        ("django_stack_celery_app", "notes_site.celery", "KIT_CELERY_APP 'notes_site.celery': loading the Celery app"),
    ],
)
def test_a_module_that_does_not_import_is_refused_naming_the_variable(notes, variable, value, message):
    output = refused("-e", f"{variable}={value}")
    assert message in output
    assert f"set the inventory's {variable}" in output


def test_a_project_that_is_not_a_git_checkout_needs_a_release(notes, tmp_path):
    source = tmp_path / "notes"
    shutil.copytree(ROOT / "examples" / "notes", source)
    output = refused("-e", f"django_stack_app_src={source}")
    assert f"the project in {source} is not a git checkout, so it has no release: set django_stack_release" in output


def test_a_missing_own_dockerfile_is_refused_before_any_change(notes):
    output = refused("-e", "django_stack_dockerfile=docker/Dockerfile")
    assert 'django_stack_dockerfile "docker/Dockerfile" is not a file in' in output


def test_a_project_without_a_lock_file_is_refused_before_any_change(notes, tmp_path):
    source = tmp_path / "notes"
    shutil.copytree(ROOT / "examples" / "notes", source, ignore=shutil.ignore_patterns("uv.lock"))
    output = refused("-e", f"django_stack_app_src={source}")
    assert f'django_stack_app_src "{source}" has neither uv.lock (with pyproject.toml) nor requirements.txt' in output


def test_the_shop_is_still_the_default_deploy(notes):
    """make demo's inventory alone still deploys the shop (the notes stack beside it stays)."""
    assert ssh("sudo grep -h ^KIT_WSGI_APP= /srv/shop/.env /srv/notes/.env").stdout.split() == [
        "KIT_WSGI_APP=config.wsgi:application",
        "KIT_WSGI_APP=notes_site.wsgi:application",
    ]
    import requests

    assert requests.get(f"{BASE_URL}/readyz", headers={"Host": "localhost"}, timeout=10).status_code == 200


# A project's own Dockerfile builds on the kit's runtime (KIT_BASE), as the kit's recipe does.
OWN_DOCKERFILE = """\
ARG KIT_BASE
FROM ${KIT_BASE} AS builder
RUN pip install --no-compile --root-user-action=ignore uv==0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN /opt/kit/bin/install-dependencies /src /opt/venv

FROM ${KIT_BASE}
COPY --from=builder /opt/venv /opt/venv
COPY . /app
RUN echo "the project's own Dockerfile" > /app/BUILT_BY
WORKDIR /app
USER app
"""


def test_a_project_from_a_git_url_with_its_own_dockerfile(notes, tmp_path):
    """django_stack_app_git_repo + _version in place of a directory, and django_stack_dockerfile: a new commit is
    deployed, built by the project's own Dockerfile. (One deploy for both: each costs a build and a rollout.)"""
    source = tmp_path / "notes.git"
    shutil.copytree(ROOT / "examples" / "notes", source)
    index = source / "notes" / "templates" / "notes" / "index.html"
    index.write_text(index.read_text().replace("<title>{{ title }}</title>", "<title>{{ title }} from git</title>"))
    (source / "build").mkdir()
    (source / "build" / "Dockerfile").write_text(OWN_DOCKERFILE)
    git = ["git", "-C", str(source), "-c", "user.name=kit", "-c", "user.email=kit@example.com"]
    for command in (["init", "-q", "-b", "release"], ["add", "."], ["commit", "-q", "-m", "notes from git"]):
        subprocess.run([*git, *command], check=True, capture_output=True)
    # The release is the commit: new in each run, so an image an earlier run built from older kit code is not reused.
    commit = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], check=True, capture_output=True, text=True)
    release = commit.stdout.strip()
    try:
        playbook(
            "site.yml", *NOTES, "--tags", "deploy",
            "-e", f"django_stack_app_git_repo=file://{source}", "-e", "django_stack_app_git_version=release",
            "-e", "django_stack_dockerfile=build/Dockerfile",
        )  # fmt: skip
        assert "<title>Notes from git</title>" in ssh(f"curl -sS {NOTES_URL}/").stdout
        assert f"APP_TAG={release}" in ssh("sudo cat /srv/notes/.env").stdout
        assert (
            ssh(f"docker exec {container('web', 'notes')} cat /app/BUILT_BY").stdout.strip()
            == "the project's own Dockerfile"
        )
        assert ssh(f"docker exec {container('worker', 'notes')} id -u").stdout.strip() == "65534"
    finally:  # the controller's copies (the sandbox goes with the suite)
        subprocess.run(["docker", "rmi", f"notes-app:{release}", f"notes-app-base:{release}"], capture_output=True)
