#!/usr/bin/env python3
"""Write the secret files docker-compose.yml mounts: ``python3 deploy/compose_secrets.py``.

Every secret reaches the containers as a compose secret (a file under
``/run/secrets``) named by a ``*_FILE`` variable, never as an environment
variable: tini, shells and healthchecks then hold nothing a playbook could
read from ``/proc``. The Redis users (``web`` and ``worker`` on the broker,
``web`` on the cache, the default user off) are written as ACL files with
hashed passwords, and the URLs each service connects with carry the
matching password. Existing files are kept, so running it again changes
nothing; delete one to rotate it (and restart the services that use it).

Standard library only: it runs on the Docker host before any image exists.
The folder is private to its owner (0700); the files in it are 0444 because
compose bind-mounts them as they are, and the container users (postgres,
redis, squadron) must read them.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
from pathlib import Path

# Redis users: every command of the keyspace they need, none of the server's
# administration (CONFIG, ACL, DEBUG, MODULE, FLUSHALL, KEYS, ...).
REDIS_RIGHTS = "~* &* +@all -@admin -@dangerous"


def _token() -> str:
    return secrets.token_urlsafe(48)


def _password() -> str:
    # Goes into URLs: hex needs no escaping.
    return secrets.token_hex(24)


def _redis_user(name: str, password: str) -> str:
    return f"user {name} on #{hashlib.sha256(password.encode()).hexdigest()} {REDIS_RIGHTS}"


def secret_files() -> dict[str, str]:
    """Fresh contents of every secret file, by file name."""
    postgres, web, worker, cache = _password(), _password(), _password(), _password()
    # The healthcheck user may only PING: redis-cli needs some login once
    # the default user is off.
    closed = "user default off\nuser healthcheck on nopass -@all +ping\n"
    return {
        "secret_key": _token(),
        "credential_key": _token(),
        "metrics_token": _token(),
        "postgres_password": postgres,
        "database_url": f"postgres://squadron:{postgres}@postgres:5432/squadron",
        "redis_broker_acl": closed + _redis_user("web", web) + "\n" + _redis_user("worker", worker) + "\n",
        "redis_cache_acl": closed + _redis_user("web", cache) + "\n",
        "web_broker_url": f"redis://web:{web}@redis:6379/0",
        "worker_broker_url": f"redis://worker:{worker}@redis:6379/0",
        "cache_url": f"redis://web:{cache}@redis-cache:6379/0",
    }


# Files that share a password: written together or kept together.
LINKED = (
    {"postgres_password", "database_url"},
    {"redis_broker_acl", "web_broker_url", "worker_broker_url"},
    {"redis_cache_acl", "cache_url"},
)


def write_secrets(folder: Path) -> list[str]:
    """Write the missing secret files into ``folder``; the names written."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    existing = {path.name for path in folder.iterdir()}
    for group in LINKED:
        if existing & group and not group <= existing:
            raise SystemExit(
                f"{folder}: {', '.join(sorted(group - existing))} missing beside "
                f"{', '.join(sorted(group & existing))}, which share a password: delete those too."
            )
    written = []
    for name, content in secret_files().items():
        if name in existing:
            continue
        path = folder / name
        path.write_text(content if content.endswith("\n") else content + "\n")
        path.chmod(0o444)
        written.append(name)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("folder", nargs="?", default="secrets", help="where to write them (./secrets)")
    folder = Path(parser.parse_args(argv).folder)
    written = write_secrets(folder)
    sys.stdout.write(f"{folder}: wrote {', '.join(written)}\n" if written else f"{folder}: all there\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
