"""Bad inventory values stop site.yml at validation, before any task changes the host."""

import pytest
from e2ekit import playbook


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("django_stack_secret_key=", "django_stack_secret_key is missing, shorter than 32 characters or a placeholder"),
        ("django_stack_domain='shop example!'", 'django_stack_domain "shop example!" is not a host name'),
        ("docker_install_source=podman", "value of docker_install_source must be one of: docker, distro, got: podman"),
        ("django_stack_http_port=eighty", "django_stack_http_port"),
    ],
)
def test_bad_value_fails_before_any_change(deployed, override, message):
    returncode, output, recap = playbook("site.yml", "-e", override, check=False)
    assert returncode != 0
    assert message in output, output[-3000:]
    assert recap["changed"] == 0 and recap["failed"] == 1
    assert "Validate the inventory before changing anything" in output
    assert "TASK [base" not in output and "TASK [docker" not in output
