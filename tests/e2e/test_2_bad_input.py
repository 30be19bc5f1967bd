"""Bad inventory values stop the playbooks with the culprit named, before they change what runs."""

import pytest
from e2ekit import playbook, ssh, unfolded

# A password given where none belongs: it must not reach the output.
URL_PASSWORD = "hunter2-in-the-url"
# The glob needs root's shell: the deploy user cannot list /srv/shop.
STATE = "sudo sh -c 'sha256sum /srv/shop/.env /srv/shop/secrets/*/*; ls -a /srv/shop'; docker ps -q --no-trunc | sort"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("django_stack_domain='shop example!'", 'django_stack_domain "shop example!" is not a host name'),
        ("docker_install_source=podman", "value of docker_install_source must be one of: docker, distro, got: podman"),
        ("django_stack_http_port=eighty", "django_stack_http_port"),
        ("backup_password=replace-with-openssl-rand-hex-24", "backup_password must be a real secret"),
        ("django_stack_tls=https", 'django_stack_tls: "https" is not one of auto, acme, own, off'),
        ("django_stack_tls=own", "django_stack_tls_certificate: own needs the certificate chain in PEM"),
        (
            "django_stack_flower_path=/flower/",
            "django_stack_flower_path: Flower at a path of the site needs django_stack_flower_enabled: true and HTTPS",
        ),
        (
            f"django_stack_database_url=postgres://shop:{URL_PASSWORD}@db.example.net:5432/shop",
            "django_stack_database_url: it holds a password, and the URL goes into the env file",
        ),
    ],
)
def test_bad_value_fails_before_any_change(deployed, override, message):
    returncode, output, recap = playbook("site.yml", "-e", override, check=False)
    assert returncode != 0
    assert message in unfolded(output), output[-3000:]
    assert URL_PASSWORD not in output
    assert recap["changed"] == 0 and recap["failed"] == 1
    assert "Validate the inventory before changing anything" in output
    assert "TASK [base" not in output and "TASK [docker" not in output


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("django_stack_secret_key=", "configuration error: SECRET_KEY is not set"),
        ("django_stack_redis_password=replace-with-openssl-rand-hex-24", "REDIS_PASSWORD is a placeholder"),
        ('{"django_stack_env": {"GUNICORN_WORKERS": "many"}}', "GUNICORN_WORKERS must be a whole number"),
        # A managed Redis that names the stack's own: the env file then starts no redis, and the checker sees it.
        (
            "django_stack_redis_url=redis://redis:6379",
            "configuration error: CELERY_BROKER_URL names the stack's own redis service, which COMPOSE_PROFILES "
            "(db,monitoring) does not start; add redis to COMPOSE_PROFILES",
        ),
    ],
)
def test_a_refused_env_file_is_put_back_and_nothing_restarts(deployed, override, message):
    """The kit's checker reads the rendered env file; the stack goes on running with the previous one."""
    before = ssh(STATE).stdout
    assert before.count("/srv/shop/secrets/") == 11, before  # every secret file is in the comparison
    returncode, output, _ = playbook("deploy.yml", "-e", override, check=False)
    said = unfolded(output)
    assert returncode != 0
    assert message in said, output[-3000:]
    assert "the previous one was put back" in said
    assert ssh(STATE).stdout == before
