"""After every role refused its bad input, the VDS is exactly as the provider handed it over."""


def test_no_deploy_user_was_created(host):
    assert not host.user("deploy").exists


def test_sshd_and_root_login_are_untouched(host):
    # testinfra logs in as root: the login the base role would have closed.
    assert host.user().name == "root"
    assert not host.file("/etc/ssh/sshd_config.d/10-kit.conf").exists
    assert "permitrootlogin without-password" in host.check_output("/usr/sbin/sshd -T").splitlines()


def test_nothing_was_installed(host):
    for package in ("ufw", "unattended-upgrades", "docker.io", "docker-ce", "restic"):
        assert not host.package(package).is_installed, package
    assert not host.file("/etc/docker").exists
    assert not host.file("/etc/kit-backup").exists


def test_no_stack_directory_was_made(host):
    assert not host.file("/srv/shop").exists
