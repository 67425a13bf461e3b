"""No process of the service holds a secret a playbook could read.

A playbook with isolation ``none`` runs as its worker's OS user. Any process
of that user may read another's ``/proc/<pid>/environ``, ``cmdline`` and
(when it is dumpable) memory. These tests start the service's processes the
way ``docker-compose.yml`` starts them (its commands, environments, tini as
``init: true`` does, the healthchecks) and the way ``make run`` does
(``manage.py serve``), all as one unprivileged user, then look for the
secrets from a separate process of that same user: the playbook's side.

Compose's secret files sit in a folder that user reads, as in the containers:
with isolation ``none`` a playbook reads them too (README, "Who runs what");
what is proved here is that no *process* gives them away. PostgreSQL is
replaced by SQLite (its URL is still a secret file); the two Redis servers are
real, with the ACL files ``deploy/compose_secrets.py`` writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.deployment.files import interpolate
from tests.unprivileged import as_nobody, project_for_nobody, shared_directory, venv_for_nobody

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="the compose layout needs redis-server"),
]
TINI = shutil.which("tini")
APP_SERVICES = ("web", "worker", "webhook-worker", "beat")

# Run as the playbook's user: for each pid, what /proc gives away.
PRY = r"""
import json, re, sys
secrets = [line.encode() for line in open(sys.argv[1]).read().split("\n") if line]
found = {}
for pid in json.loads(sys.argv[2]):
    report = {"leaks": [], "environ": False, "mem": False}
    for part in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as file:
                data = file.read()
        except OSError:
            continue
        report["environ"] |= part == "environ"
        report["leaks"] += [f"{part}:{value[:6]!r}" for value in secrets if value in data]
    try:
        regions = [line.split() for line in open(f"/proc/{pid}/maps")]
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            for region in regions:
                start, end = (int(bound, 16) for bound in region[0].split("-"))
                if region[1][0] != "r" or end - start > 256 * 1024 * 1024 or region[-1] == "[vvar]":
                    continue
                try:
                    mem.seek(start)
                    data = mem.read(end - start)
                except OSError:
                    continue
                report["mem"] = True
                report["leaks"] += [f"mem:{value[:6]!r}" for value in secrets if value in data]
    except OSError:
        pass
    found[pid] = report
print(json.dumps(found))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pids: list[int]) -> list[int]:
    """``pids`` and every live process under them."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = set(pids), set(pids)
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return sorted(pid for pid in found if pid in parents)


def command_name(pid: int, limit: int = 160) -> str:
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "?"
    return arguments.decode(errors="replace")[:limit]


def wait_for(condition: Callable[[], bool], what: str, logs: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tails = "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs.glob("*.log")
    )
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


class Layout:
    """Processes started as the unprivileged user, stopped at the end."""

    def __init__(self, directory: Path, bin_dir: Path, base_env: dict[str, str], project: Path) -> None:
        self.directory, self.bin_dir, self.project = directory, bin_dir, project
        self.base_env = {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(directory),
            **base_env,
        }
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = directory / "logs"
        self.logs.mkdir(mode=0o777, exist_ok=True)
        self.logs.chmod(0o777)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [*as_nobody(), *argv],
            cwd=self.project,
            env={**self.base_env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started[name] = process
        return process

    def run(self, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*as_nobody(), *argv],
            cwd=self.project,
            env={**self.base_env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def stop(self) -> None:
        everything = descendants([process.pid for process in self.started.values()])
        for process in self.started.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.started.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Children in sessions of their own (serve's) that outlived their parent.
        for pid in descendants(everything):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def pry(self, pids: list[int], secrets_file: Path) -> dict[int, dict]:
        """What a playbook (a process of the same user) learns of ``pids``."""
        python = self.bin_dir / "python"
        result = self.run([str(python), "-I", "-c", PRY, str(secrets_file), json.dumps(pids)], {})
        assert result.returncode == 0, result.stderr
        return {int(pid): report for pid, report in json.loads(result.stdout).items()}


@pytest.fixture(scope="module")
def nobody_world() -> Iterator[tuple[Path, Path, dict[str, str], Path]]:
    """A folder, a virtualenv and a copy of the project the unprivileged user reaches."""
    with shared_directory() as directory:
        bin_dir, env = venv_for_nobody(directory)
        project = project_for_nobody(ROOT, directory)
        yield directory, bin_dir, env, project


def assert_nothing_leaks(reports: dict[int, dict], sealed: set[int]) -> None:
    leaks = {
        f"{pid} {command_name(pid)}": report["leaks"] for pid, report in reports.items() if report["leaks"]
    }
    assert not leaks, f"secrets readable from the playbook's side: {leaks}"
    open_to_all = [
        f"{pid} {command_name(pid)}" for pid in sealed if reports[pid]["environ"] or reports[pid]["mem"]
    ]
    assert not open_to_all, f"Squadron processes a playbook can read: {open_to_all}"


def squadron_processes(pids: list[int]) -> set[int]:
    """The Python processes of the service (they hold secrets in memory)."""
    return {pid for pid in pids if "bin/python" in command_name(pid).split(" ")[0]}


# --- The compose layout -----------------------------------------------------------


def compose_layout(world: tuple[Path, Path, dict[str, str], Path]) -> Iterator[dict]:
    directory, bin_dir, interpreter_env, project = world
    layout_dir = directory / "compose"
    layout_dir.mkdir()
    layout_dir.chmod(0o777)
    secrets_dir = layout_dir / "secrets"
    var_dir = layout_dir / "var"
    var_dir.mkdir(mode=0o777)
    var_dir.chmod(0o777)
    subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "compose_secrets.py"), str(secrets_dir)], check=True
    )
    # The containers see the files (0444) under /run/secrets, which their
    # user reaches: so does nobody here.
    secrets_dir.chmod(0o755)
    broker_port, cache_port, web_port = free_port(), free_port(), free_port()
    replacements = {
        "@redis:6379": f"@127.0.0.1:{broker_port}",
        "@redis-cache:6379": f"@127.0.0.1:{cache_port}",
    }
    for name in ("web_broker_url", "worker_broker_url", "cache_url", "database_url"):
        path = secrets_dir / name
        text = path.read_text()
        for old, new in replacements.items():
            text = text.replace(old, new)
        if name == "database_url":
            text = f"sqlite:///{var_dir / 'squadron.sqlite3'}\n"
        path.chmod(0o644)
        path.write_text(text)
        path.chmod(0o444)
    values = [
        (secrets_dir / name).read_text().strip()
        for name in (
            "secret_key",
            "credential_key",
            "metrics_token",
            "database_url",
            "web_broker_url",
            "worker_broker_url",
            "cache_url",
        )
    ]
    # The passwords on their own, too: a URL could be taken apart.
    values += [url.rsplit("@", 1)[0].rsplit(":", 1)[1] for url in values[4:7]]
    secrets_file = directory / "compose-secret-values"
    secrets_file.write_text("\n".join(values) + "\n")
    secrets_file.chmod(0o444)

    operator = {"ALLOWED_HOSTS": "squadron.example.com", "GUNICORN_WORKERS": "2"}
    compose = interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), operator)
    services = compose["services"]

    def localise(value: str, service: str) -> str:
        return (
            value.replace("/run/secrets", str(secrets_dir))
            .replace("/var/lib/squadron", str(var_dir))
            .replace("/tmp/squadron-worker-heartbeat", str(layout_dir / f"{service}-heartbeat"))
            .replace("0.0.0.0:8000", f"127.0.0.1:{web_port}")
            .replace("127.0.0.1:8000", f"127.0.0.1:{web_port}")
            .replace("redis-cli ", f"redis-cli -p {broker_port if service == 'redis' else cache_port} ")
        )

    layout = Layout(layout_dir, bin_dir, interpreter_env, project)
    try:
        for name, port in (("redis", broker_port), ("redis-cache", cache_port)):
            data = layout_dir / f"{name}-data"
            data.mkdir(mode=0o777)
            data.chmod(0o777)
            command = [localise(argument, name) for argument in services[name]["command"]]
            layout.start(name, [*command, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)], {})
        environments = {
            name: {key: localise(str(value), name) for key, value in services[name]["environment"].items()}
            for name in APP_SERVICES
        }
        for name in APP_SERVICES:
            # compose's `init: true`: tini is the container's first process.
            command = [localise(argument, name) for argument in services[name]["command"]]
            init = [TINI, "-s", "--"] if TINI else []
            layout.start(name, [*init, *command], environments[name])
            if name == "web":
                # The others wait for a healthy web (depends_on).
                wait_for(lambda: healthy(layout, services, "web", environments, localise), "web", layout.logs)
        for name in ("redis", "redis-cache", *APP_SERVICES):
            wait_for(
                lambda name=name: healthy(layout, services, name, environments, localise),
                f"{name}'s healthcheck",
                layout.logs,
            )
        yield {
            "layout": layout,
            "secrets_file": secrets_file,
            "secrets_dir": secrets_dir,
            "ports": (broker_port, cache_port),
            "services": services,
            "environments": environments,
            "localise": localise,
        }
    finally:
        layout.stop()


def healthy(layout: Layout, services: dict, name: str, environments: dict, localise: Callable) -> bool:
    test = services[name]["healthcheck"]["test"]
    argv = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
    argv = [localise(argument, name) for argument in argv]
    # docker exec gives a healthcheck the container's environment.
    return layout.run(argv, environments.get(name, {})).returncode == 0


@pytest.fixture(scope="module")
def compose(nobody_world) -> Iterator[dict]:
    yield from compose_layout(nobody_world)


def test_no_process_of_the_compose_layout_gives_a_secret_away(compose):
    layout: Layout = compose["layout"]
    roots = [process.pid for name, process in layout.started.items() if name in APP_SERVICES]
    pids = descendants(roots)
    commands = " | ".join(command_name(pid, limit=1000) for pid in pids)
    # What compose runs, all up: tini, gunicorn's master and workers, both
    # workers with their pools, beat.
    assert "gunicorn" in commands and "worker" in commands and "beat" in commands, commands
    if TINI:
        assert sum(command_name(pid).startswith(TINI) for pid in pids) == len(APP_SERVICES)
    assert len(pids) >= 10, commands
    reports = layout.pry(pids, compose["secrets_file"])
    assert set(reports) <= set(pids)
    assert_nothing_leaks(reports, sealed=squadron_processes(pids))


def test_the_compose_environments_and_healthchecks_hold_no_secret(compose):
    # Healthchecks are docker exec'd with the container's environment and
    # the compose test as their command line: neither holds a secret value.
    values = compose["secrets_file"].read_text().split()
    for name in APP_SERVICES:
        environment = json.dumps(compose["environments"][name])
        healthcheck = json.dumps(compose["services"][name]["healthcheck"])
        assert not [value for value in values if value in environment or value in healthcheck], name


def test_redis_refuses_the_default_user_and_each_service_reaches_only_its_own_server(compose):
    broker_port, cache_port = compose["ports"]
    secrets_dir: Path = compose["secrets_dir"]

    def ping(port: int, user: str | None = None, password: str | None = None) -> str:
        login = ["--user", user, "--pass", password, "--no-auth-warning"] if user and password else []
        result = subprocess.run(
            ["redis-cli", "-p", str(port), *login, "ping"], capture_output=True, text=True, timeout=10
        )
        return result.stdout.strip() + result.stderr.strip()

    def credentials(name: str) -> tuple[str, str]:
        user, password = secrets_dir.joinpath(name).read_text().split("//", 1)[1].split("@")[0].split(":")
        return user, password

    assert "NOAUTH" in ping(broker_port) and "NOAUTH" in ping(cache_port)
    assert ping(broker_port, *credentials("web_broker_url")) == "PONG"
    assert ping(broker_port, *credentials("worker_broker_url")) == "PONG"
    assert ping(cache_port, *credentials("cache_url")) == "PONG"
    # The worker's password does not open the cache, nor the broker's web one.
    assert "PONG" not in ping(cache_port, *credentials("worker_broker_url"))
    assert "PONG" not in ping(cache_port, *credentials("web_broker_url"))


# --- make run -----------------------------------------------------------------------


def test_no_process_of_make_run_gives_a_secret_away(nobody_world):
    directory, bin_dir, interpreter_env, project = nobody_world
    layout_dir = directory / "make-run"
    layout_dir.mkdir()
    layout_dir.chmod(0o777)
    var_dir = layout_dir / "var"
    var_dir.mkdir(mode=0o777)
    var_dir.chmod(0o777)
    # An operator who exports real keys before `make run`: they are in the
    # environment of every process serve starts.
    values = ["serve-secret-key-" + "k" * 40, "serve-credential-key-" + "c" * 40]
    env = {
        "DEBUG": "true",
        "SQUADRON_VAR_DIR": str(var_dir),
        "SECRET_KEY": values[0],
        "SQUADRON_CREDENTIAL_KEY": values[1],
    }
    secrets_file = layout_dir / "secret-values"
    secrets_file.write_text("\n".join(values) + "\n")
    secrets_file.chmod(0o444)
    layout = Layout(layout_dir, bin_dir, interpreter_env, project)
    python = str(bin_dir / "python")
    migrated = layout.run([python, "manage.py", "migrate", "--noinput"], env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    try:
        serve = layout.start(
            "serve", [python, "manage.py", "serve", "--addr", f"127.0.0.1:{port}", "--concurrency", "1"], env
        )
        log = layout.logs / "serve.log"
        wait_for(
            lambda: (
                log.read_text(errors="replace").count("ready.") >= 2 and "beat: Starting" in log.read_text()
            ),
            "serve's workers and beat",
            layout.logs,
        )
        wait_for(lambda: _answers(port), "runserver", layout.logs)
        pids = descendants([serve.pid])
        commands = " | ".join(command_name(pid, limit=1000) for pid in pids)
        for part in ("runserver", "worker", "webhooks", "beat"):
            assert part in commands, commands
        reports = layout.pry(pids, secrets_file)
        assert_nothing_leaks(reports, sealed=set(pids))
    finally:
        layout.stop()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
