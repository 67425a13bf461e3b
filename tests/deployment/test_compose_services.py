"""docker-compose.yml has its seven services, each with a healthcheck, starts
them healthy-first, keeps data in named volumes, serves the web with a sealed
gunicorn, runs the portal's Celery app in its workers and beat, gives webhook
deliveries a worker of their own and runs playbooks in bubblewrap."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from django.urls import resolve

from tests.deployment.files import (
    APP_SERVICES,
    DOCKERFILE,
    ROOT,
    compose_file,
    compose_services,
    instruction_arguments,
    shell_commands,
)

SERVICES = {"postgres", "redis", "redis-cache", "web", "worker", "webhook-worker", "beat"}
WORKERS = {"worker", "webhook-worker"}


def test_compose_file_has_its_services_each_with_a_healthcheck():
    services = compose_services()
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == services["redis-cache"]["image"] == "redis:7"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    for name in APP_SERVICES:
        build = services[name]["build"]
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def test_compose_keeps_data_in_named_volumes():
    declared = set(compose_file()["volumes"])
    services = compose_services()

    def mounts(service: str) -> dict[str, str]:
        """Target path -> source of the service's volumes."""
        pairs = (volume.split(":", 1) for volume in services[service].get("volumes", []))
        return {target: source for source, target in pairs}

    for name in services:
        for source in mounts(name).values():
            assert source in declared, f"{name}: {source} is not a named volume"
    assert mounts("postgres").get("/var/lib/postgresql/data") == "postgres-data"
    assert mounts("redis").get("/data") == "redis-data"
    command = services["beat"]["command"]
    schedule = Path(command[command.index("--schedule") + 1])
    assert str(schedule.parent) in mounts("beat"), "beat's schedule would be lost with the container"
    for name in APP_SERVICES:
        assert mounts(name).get("/var/lib/squadron") == "squadron-data", name


def test_compose_starts_services_once_what_they_need_is_healthy():
    services = compose_services()
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        for dependency in ("postgres", "redis"):
            assert depends_on[dependency]["condition"] == "service_healthy", (name, dependency)
    # Only the web migrates; the others start on a migrated database.
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["web"]["condition"] == "service_healthy"


def test_web_migrates_then_serves_with_gunicorn():
    web = compose_services()["web"]
    assert web["command"][:2] == ["sh", "-c"]
    commands = shell_commands(web["command"][2])
    assert commands[0][:3] == ["python", "manage.py", "migrate"]
    assert commands[-1][:4] == ["exec", "gunicorn", "-c", "portal/gunicorn.conf.py"]
    assert commands[-1][commands[-1].index("--bind") + 1] == "0.0.0.0:8000"
    assert "--workers" in commands[-1]
    assert any(port.endswith(":8000") for port in web["ports"])
    healthcheck = web["healthcheck"]["test"]
    assert healthcheck[:4] == ["CMD", "python", "-I", "-c"]
    # Liveness, not readiness: a broker outage must not mark the web
    # unhealthy (tests/deployment/test_web_probes.py runs it through one).
    assert "urllib" in healthcheck[4] and "http://127.0.0.1:8000/healthz" in healthcheck[4]
    assert "readyz" not in healthcheck[4]
    assert resolve("/healthz").url_name == "healthz" and resolve("/readyz").url_name == "readyz"


def test_gunicorn_config_seals_the_master_and_every_worker():
    script = (
        "import ctypes, runpy; hooks = runpy.run_path('portal/gunicorn.conf.py'); "
        "libc = ctypes.CDLL(None); before = libc.prctl(3, 0, 0, 0, 0); hooks['on_starting'](None); "
        "master = libc.prctl(3, 0, 0, 0, 0); libc.prctl(4, 1, 0, 0, 0); hooks['post_fork'](None, None); "
        "print(before, master, libc.prctl(3, 0, 0, 0, 0))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0", "0"]


def test_workers_and_beat_run_the_portal_celery_app_with_a_heartbeat_file():
    services = compose_services()
    worker = ["celery", "-A", "portal", "worker", "--loglevel=INFO", "--include", "portal.liveness"]
    assert services["worker"]["command"] == worker
    beat = ["celery", "-A", "portal", "beat", "--loglevel=INFO"]
    assert services["beat"]["command"] == [*beat, "--schedule", "/var/lib/squadron/celerybeat-schedule"]
    for name in WORKERS:
        heartbeat = services[name]["environment"]["SQUADRON_WORKER_HEARTBEAT_FILE"]
        assert heartbeat in " ".join(services[name]["healthcheck"]["test"]), name


def test_webhook_deliveries_have_a_worker_of_their_own():
    services = compose_services()
    command = services["webhook-worker"]["command"]
    assert command[:7] == [
        "celery",
        "-A",
        "portal",
        "worker",
        "--loglevel=INFO",
        "--include",
        "portal.liveness",
    ]
    queue = command[command.index("--queues") + 1]
    assert queue == services["webhook-worker"]["environment"]["SQUADRON_WEBHOOK_QUEUE"] == "webhooks"
    assert "--queues" not in services["worker"]["command"], "the playbooks' worker serves the default queue"
    assert services["webhook-worker"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_playbook_worker_runs_each_playbook_in_bubblewrap():
    services = compose_services()
    for name in WORKERS:
        assert services[name]["environment"]["SQUADRON_RUN_ISOLATION"] == "bubblewrap", name
    # bwrap's user namespaces and mounts need Docker's seccomp and AppArmor
    # profiles lifted; nothing else gets them.
    assert set(services["worker"]["security_opt"]) == {"seccomp=unconfined", "apparmor=unconfined"}
    assert not [name for name in services if name != "worker" and services[name].get("security_opt")]
    assert not [
        name for name in services if services[name].get("privileged") or services[name].get("cap_add")
    ]
    runs = " ".join(instruction_arguments("RUN"))
    assert re.search(r"apt-get install [^&]*\bbubblewrap\b", runs)
