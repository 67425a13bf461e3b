"""The web's probes through a real outage, on gunicorn started as
docker-compose.yml starts it (production settings, compose's command line):
with the broker down, compose's own web healthcheck still passes and
/readyz answers 503 naming the broker; with the database down as well, the
web still answers /healthz and /readyz names both. The outages are real: the
URLs name ports that refuse connections."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployment.files import ROOT, compose_services, shell_commands

pytestmark = pytest.mark.slow
HOST = "squadron.example.com"
DATABASE_PASSWORD = "database-password-" + secrets.token_hex(4)
BROKER_PASSWORD = "broker-password-" + secrets.token_hex(4)


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port that refuses connections: bound for the test, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int) -> list[str]:
    """compose's web command without the migration: its last step, one worker, this port."""
    command = shell_commands(compose_services()["web"]["command"][2])[-1]
    assert command[:2] == ["exec", "gunicorn"], command
    arguments = command[2:]
    arguments[arguments.index("--bind") + 1] = f"127.0.0.1:{port}"
    arguments[arguments.index("--workers") + 1] = "1"
    return [sys.executable, "-m", "gunicorn", *arguments]


def probe(port: int, path: str) -> tuple[int, bytes]:
    """What the proxy's request for ``path`` gets: (status, body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": HOST, "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local http URL
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def web(tmp_path) -> Iterator:
    """``web(database_url, broker_url)``: gunicorn serving with those, its port once it answers."""
    started: list[subprocess.Popen[bytes]] = []

    def start(database_url: str, broker_url: str) -> int:
        port = free_port()
        # Only what compose gives the web, and coverage's own variables (see
        # pyproject.toml) so that `make test` measures this server too.
        env = {name: value for name, value in os.environ.items() if name.startswith("COVERAGE_")}
        env |= {
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "SQUADRON_CREDENTIAL_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": HOST,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "SQUADRON_VAR_DIR": str(tmp_path / "var"),
            "SQUADRON_RUN_ISOLATION": "none",
        }
        log = tmp_path / f"gunicorn-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                gunicorn_command(port), cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        started.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                probe(port, "/favicon.ico")
                return port
            except OSError:
                assert process.poll() is None, log.read_text()
                time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer within 60 s:\n{log.read_text()}")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def compose_web_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """docker-compose.yml's web healthcheck as Docker runs it, against ``port``."""
    test = compose_services()["web"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], test
    argv = [sys.executable, *(part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in test[2:])]
    # docker exec gives a healthcheck the container's environment (no secret in it).
    return subprocess.run(
        argv, env={"ALLOWED_HOSTS": HOST}, capture_output=True, text=True, timeout=30, check=False
    )


def assert_nothing_given_away(body: bytes, port: int) -> None:
    for secret in (DATABASE_PASSWORD, BROKER_PASSWORD, str(port), "127.0.0.1", "Django", "gunicorn"):
        assert secret.encode() not in body, secret


def test_broker_down_passes_composes_healthcheck_and_readyz_names_the_broker(web, tmp_path, refusing_port):
    port = web(
        f"sqlite:///{tmp_path / 'squadron.sqlite3'}",
        f"redis://web:{BROKER_PASSWORD}@127.0.0.1:{refusing_port}/0",
    )
    healthcheck = compose_web_healthcheck(port)
    assert healthcheck.returncode == 0, healthcheck.stderr
    status, body = probe(port, "/healthz")
    assert status == 200
    assert json.loads(body)["checks"] == {"database": "ok", "broker": "error: unreachable"}
    status, body = probe(port, "/readyz")
    assert status == 503
    assert json.loads(body)["down"] == ["broker"]
    assert_nothing_given_away(body, refusing_port)


def test_database_and_broker_down_readyz_names_both_and_the_web_stays_alive(web, refusing_port):
    port = web(
        f"postgres://squadron:{DATABASE_PASSWORD}@127.0.0.1:{refusing_port}/squadron",
        f"redis://web:{BROKER_PASSWORD}@127.0.0.1:{refusing_port}/0",
    )
    assert compose_web_healthcheck(port).returncode == 0
    liveness_status, liveness = probe(port, "/healthz")
    readiness_status, readiness = probe(port, "/readyz")
    assert liveness_status == 200
    assert json.loads(liveness)["checks"]["database"] == "error: OperationalError"
    assert readiness_status == 503
    assert json.loads(readiness) == {
        "status": "unavailable",
        "down": ["database", "broker"],
        "checks": {"database": "error: OperationalError", "broker": "error: unreachable"},
    }
    for body in (liveness, readiness):
        assert_nothing_given_away(body, refusing_port)
