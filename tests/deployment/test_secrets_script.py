"""deploy/compose_secrets.py writes passwords that agree with each other, ACL
files holding only their hashes, and never replaces a secret already in use."""

from __future__ import annotations

import hashlib

from tests.deployment.files import written_secrets


def test_the_secrets_script_writes_consistent_passwords_and_keeps_what_exists(tmp_path):
    folder = tmp_path / "secrets"
    written = written_secrets(folder)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all((folder / name).stat().st_mode & 0o777 == 0o444 for name in written)
    postgres = written["postgres_password"].strip()
    assert written["database_url"].strip() == f"postgres://squadron:{postgres}@postgres:5432/squadron"
    for acl, urls in (
        ("redis_broker_acl", ("web_broker_url", "worker_broker_url")),
        ("redis_cache_acl", ("cache_url",)),
    ):
        lines = written[acl].splitlines()
        assert "user default off" in lines
        for url_name in urls:
            user, password = written[url_name].split("//")[1].split("@")[0].split(":")
            digest = hashlib.sha256(password.encode()).hexdigest()
            assert any(line.startswith(f"user {user} on #{digest} ") for line in lines), (acl, url_name)
            assert password not in written[acl], "the ACL file holds hashes only"
    assert written["cache_url"].split("@")[1].startswith("redis-cache:")
    # A second run keeps every file: passwords in use are never replaced.
    assert written_secrets(folder) == written
