"""The deployment files hold together without a Docker engine: docker-compose.yml
has its seven services, healthy-first start-up, persistent data, secrets as
files that no environment holds, password-protected Redis servers with the
cache out of the workers' reach, healthchecks that hold no secret and a
sandbox-ready playbook worker; every program, module and manage.py command that the compose file and
the Dockerfile run exists in the project with the arguments given; the image
builds from files that exist and collects static files with throw-away secrets
that stay out of its runtime environment."""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import click
import pytest
import yaml
from celery import Celery
from celery.app.control import Inspect
from celery.app.utils import find_app
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli
from django.core.management import CommandError, get_commands, load_command_class
from django.urls import resolve
from gunicorn.config import Config as GunicornConfig

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
APP_DIR = "/app"  # the image's WORKDIR: where the project is copied

SERVICES = {"postgres", "redis", "redis-cache", "web", "worker", "webhook-worker", "beat"}
APP_SERVICES = {"web", "worker", "webhook-worker", "beat"}
WORKERS = {"worker", "webhook-worker"}
# What an operator exports before `docker compose up` (the secrets are files).
OPERATOR_ENV = {"ALLOWED_HOSTS": "squadron.example.com"}
SECRETS_SCRIPT = ROOT / "deploy" / "compose_secrets.py"
# Settings that are secrets: never in an environment, always NAME_FILE.
SECRET_SETTINGS = {
    "SECRET_KEY",
    "SQUADRON_CREDENTIAL_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "SQUADRON_METRICS_TOKEN",
    "EMAIL_HOST_PASSWORD",
    "POSTGRES_PASSWORD",
}
# Programs of the Debian base image a healthcheck may call.
BASE_PROGRAMS = {"find", "grep"}


# --- Reading the files --------------------------------------------------------


class MissingVariable(Exception):
    """A required ``${NAME:?message}`` variable is not set."""


_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


def interpolate(value: object, env: Mapping[str, str]) -> object:
    """``value`` with compose's variable syntax resolved the way compose does."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        current, operator, argument = env.get(name), match.group("op"), match.group("arg")
        if operator in {":-", "-"} and (current is None or (operator == ":-" and current == "")):
            return argument
        if operator in {":?", "?"} and (current is None or (operator == ":?" and current == "")):
            raise MissingVariable(f"{name}: {argument}")
        return current or ""

    return _VARIABLE.sub(replace, value)


def compose_file() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_services() -> dict:
    """The services as compose runs them, with the operator's variables set."""
    return interpolate(compose_file(), OPERATOR_ENV)["services"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    instructions, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def instruction_arguments(keyword: str) -> list[str]:
    return [arguments for name, arguments in dockerfile_instructions() if name == keyword]


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def is_dockerignored(path: str) -> bool:
    parts = Path(path).parts
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for pattern in dockerignore_patterns() for prefix in prefixes)


def env_assignments(arguments: str) -> dict[str, str]:
    """``KEY=value`` pairs of an ENV instruction."""
    return dict(token.split("=", 1) for token in shlex.split(arguments))


# --- Checking that a command line can run in the image ------------------------


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of an ``sh -c`` script joined by ``&&`` or ``;``."""
    commands, current = [], []
    for token in shlex.split(script):
        if token in {"&&", ";"}:
            commands.append(current)
            current = []
        else:
            current.append(token)
    return [command for command in [*commands, current] if command]


def check_command(argv: list[str]) -> None:
    """Fail (AssertionError) unless ``argv`` names something the image has,
    with arguments that program accepts."""
    try:
        _check_command(argv)
    except (ImportError, AttributeError, CommandError, click.UsageError, SystemExit) as error:
        raise AssertionError(f"{shlex.join(argv)}: {error!r}") from error


def _check_command(argv: list[str]) -> None:
    if argv[0] == "exec":
        argv = argv[1:]
    program, arguments = argv[0], argv[1:]
    if program == "python" and arguments[0] == "-I":
        arguments = arguments[1:]
    if program == "sh" and arguments[0] == "-c":
        for command in shell_commands(arguments[1]):
            _check_command(command)
    elif program in BASE_PROGRAMS:
        assert shutil.which(program), f"{program} is not installed"
    elif program == "python" and arguments[0] == "-c":
        compile(arguments[1], "<python -c>", "exec")
    elif program == "python" and arguments[0] == "manage.py":
        check_manage_command(arguments[1:])
    elif program == "gunicorn":
        check_gunicorn(arguments)
    elif program == "celery":
        check_celery(arguments)
    elif "/" in program:
        script = ROOT / program.removeprefix(APP_DIR + "/")
        assert script.is_file(), f"{program} is not in the project"
        assert os.access(script, os.X_OK), f"{program} is not executable"
    else:
        raise AssertionError(f"{program!r} is not a program the image is known to have")


def check_manage_command(arguments: list[str]) -> None:
    assert (ROOT / "manage.py").is_file()
    name = arguments[0]
    commands = get_commands()
    assert name in commands, f"manage.py has no command {name!r}"
    command = load_command_class(commands[name], name)
    command.create_parser("manage.py", name).parse_args(arguments[1:])


def check_gunicorn(arguments: list[str]) -> None:
    assert importlib.util.find_spec("gunicorn"), "gunicorn is not installed"
    options = GunicornConfig().parser().parse_args(arguments)
    assert len(options.args) == 1, options.args
    if options.config:
        assert (ROOT / options.config).is_file(), f"no gunicorn config {options.config}"
    module_name, _, attribute = options.args[0].partition(":")
    application = getattr(importlib.import_module(module_name), attribute)
    assert callable(application)


def check_celery(arguments: list[str]) -> None:
    assert importlib.util.find_spec("celery"), "celery is not installed"
    position = next(index for index, token in enumerate(arguments) if token in celery_cli.commands)
    name, options = arguments[position], arguments[position + 1 :]
    context = celery_cli.make_context("celery", [*arguments[:position], name])
    app = find_app(context.params["app"])
    assert isinstance(app, Celery) and app.main == "portal"
    context.obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    parsed = celery_cli.commands[name].make_context(name, options, parent=context)
    for module in parsed.params.get("include") or ():
        importlib.import_module(module)
    if name == "inspect":
        assert callable(getattr(Inspect, parsed.params["command"], None)), parsed.params["command"]


def healthcheck_commands(healthcheck: dict) -> list[list[str]]:
    test = healthcheck["test"]
    if test[0] == "CMD":
        return [test[1:]]
    assert test[0] == "CMD-SHELL", test
    return [command for part in test[1].split("|") for command in shell_commands(part)]


# --- docker-compose.yml --------------------------------------------------------


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


def written_secrets(folder: Path) -> dict[str, str]:
    """What deploy/compose_secrets.py writes into ``folder``, by file name."""
    result = subprocess.run(
        [sys.executable, str(SECRETS_SCRIPT), str(folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return {path.name: path.read_text() for path in folder.iterdir()}


def test_no_environment_holds_a_secret_only_the_files_compose_mounts(tmp_path):
    # tini, shells and docker exec'd healthchecks hold the container's
    # environment, readable from /proc by any process of its user.
    compose = interpolate(compose_file(), OPERATOR_ENV)
    with pytest.raises(MissingVariable, match="ALLOWED_HOSTS"):
        interpolate(compose_file(), {})
    declared = compose["secrets"]
    written = written_secrets(tmp_path / "secrets")
    for name, secret in declared.items():
        assert secret["file"] == f"./secrets/{name}", name
        assert name in written, f"deploy/compose_secrets.py does not write {name}"
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        assert not SECRET_SETTINGS & set(environment), f"{name} holds a secret in its environment"
        mounted = set(service.get("secrets", []))
        assert mounted <= set(declared), name
        for variable, value in environment.items():
            assert not any(content.strip() in str(value) for content in written.values()), (name, variable)
            if str(value).startswith("/run/secrets/"):
                assert variable.removesuffix("_FILE") in SECRET_SETTINGS, (name, variable)
                assert value.removeprefix("/run/secrets/") in mounted, (name, variable)
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        for variable in ("SECRET_KEY", "SQUADRON_CREDENTIAL_KEY", "DATABASE_URL", "CELERY_BROKER_URL"):
            assert f"{variable}_FILE" in environment, (name, variable)
        # compose's init stays: with no secret in the environment, tini holds none.
        assert compose["services"][name]["init"] is True
    assert (
        compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"]
        == "/run/secrets/postgres_password"
    )


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


def test_settings_accept_the_compose_environment(tmp_path):
    written_secrets(tmp_path / "secrets")
    expected = {
        "web": (tmp_path / "secrets" / "web_broker_url").read_text().strip(),
        "worker": (tmp_path / "secrets" / "worker_broker_url").read_text().strip(),
    }
    for name in ("web", "worker"):
        environment = compose_services()[name]["environment"]
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "SQUADRON"))}
        for variable in SECRET_SETTINGS:
            env.pop(variable, None)
        env.update(
            {
                key: str(value).replace("/run/secrets", str(tmp_path / "secrets"))
                for key, value in environment.items()
            }
        )
        script = (
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.SQUADRON_OUTPUT_DIR, "
            "s.CACHES['default']['LOCATION'] if 'LOCATION' in s.CACHES['default'] else '-')"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        debug, engine, broker, output, cache = result.stdout.split()
        assert (debug, engine, output) == (
            "False",
            "django.db.backends.postgresql",
            "/var/lib/squadron/output",
        )
        assert broker == expected[name]
        # Only the web knows the cache.
        assert cache.startswith("redis://web:") if name == "web" else cache == "-"


def test_redis_servers_need_a_password_and_the_cache_is_the_webs_alone():
    compose = interpolate(compose_file(), OPERATOR_ENV)
    services = compose["services"]
    for name, acl in (("redis", "redis_broker_acl"), ("redis-cache", "redis_cache_acl")):
        command = services[name]["command"]
        assert command[command.index("--aclfile") + 1] == f"/run/secrets/{acl}", name
        assert services[name]["secrets"] == [acl]
        healthcheck = " ".join(services[name]["healthcheck"]["test"])
        assert "--user healthcheck" in healthcheck and "grep -q PONG" in healthcheck
    # The cache sits on a network of its own, internal, that only the web joins.
    assert compose["networks"]["cache"]["internal"] is True
    on_cache = {name for name, service in services.items() if "cache" in service.get("networks", [])}
    assert on_cache == {"web", "redis-cache"}
    assert services["redis-cache"]["networks"] == ["cache"]
    assert "cache_url" in services["web"]["secrets"]
    assert services["web"]["environment"]["CACHE_URL_FILE"] == "/run/secrets/cache_url"
    for name in APP_SERVICES - {"web"}:
        assert "cache_url" not in services[name]["secrets"], name
        assert "web_broker_url" not in services[name]["secrets"], name
        assert services[name]["environment"]["CELERY_BROKER_URL_FILE"] == "/run/secrets/worker_broker_url"
    assert services["web"]["environment"]["CELERY_BROKER_URL_FILE"] == "/run/secrets/web_broker_url"


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
    assert "urllib" in healthcheck[4] and "http://127.0.0.1:8000/healthz" in healthcheck[4]
    assert resolve("/healthz").url_name == "healthz"


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


def test_no_healthcheck_holds_a_secret_or_loads_the_project():
    # A healthcheck is docker exec'd: a process of the service's user, with
    # its environment (no secret: see above). It must not load the settings
    # (which read the secret files) or talk to the broker.
    services = compose_services()
    for name, service in services.items():
        for command in healthcheck_commands(service["healthcheck"]):
            program = command[0]
            assert program not in {"celery", "gunicorn"}, (name, command)
            assert "manage.py" not in command, (name, command)
            if program == "python":
                assert command[1] == "-I", f"{name}: a Python healthcheck runs isolated (-I)"


def test_every_command_the_compose_file_runs_exists_in_the_project():
    services = compose_services()
    for name in APP_SERVICES:
        service = services[name]
        for key in ("entrypoint", "command"):
            if key in service:
                value = service[key]
                check_command(shlex.split(value) if isinstance(value, str) else value)
        for command in healthcheck_commands(service["healthcheck"]):
            check_command(command)


def test_check_command_notices_what_does_not_exist():
    for argv in (
        ["python", "manage.py", "no_such_command"],
        ["python", "manage.py", "migrate", "--no-such-flag"],
        ["gunicorn", "portal.wsgi:no_such_app"],
        ["gunicorn", "portal.wsgi:application", "--no-such-flag"],
        ["celery", "-A", "no_such_module", "worker"],
        ["celery", "-A", "portal", "worker", "--no-such-flag"],
        ["celery", "-A", "portal", "worker", "--include", "portal.no_such_module"],
        ["gunicorn", "-c", "portal/no_such.conf.py", "portal.wsgi:application"],
        ["celery", "-A", "portal", "inspect", "no_such_action"],
        ["deploy/no-such-script.sh"],
        ["sh", "-c", "python manage.py migrate && nosuchprogram"],
    ):
        with pytest.raises(AssertionError):
            check_command(argv)


# --- Dockerfile and .dockerignore ----------------------------------------------


def test_image_is_python_311_slim_and_runs_unprivileged():
    assert instruction_arguments("FROM") == ["python:3.11-slim"]
    users = instruction_arguments("USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert instruction_arguments("WORKDIR")[-1] == APP_DIR


def test_image_installs_the_requirements_and_the_tools_runbooks_call():
    runs = " ".join(instruction_arguments("RUN"))
    assert "pip install --requirement requirements.txt" in runs
    assert re.search(r"apt-get install [^&]*\bopenssl\b", runs)
    assert re.search(r"apt-get install [^&]*\bopenssh-client\b", runs)
    requirements = {
        re.split(r"[=<>\[;]", line, maxsplit=1)[0].strip().lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    needed = {
        "gunicorn",
        "celery",
        "redis",
        "psycopg2-binary",
        "whitenoise",
        "ansible-core",
        "ansible-runner",
    }
    assert needed <= requirements


def test_every_copy_source_exists_and_reaches_the_build_context():
    sources = []
    for arguments in instruction_arguments("COPY"):
        tokens = [token for token in shlex.split(arguments) if not token.startswith("--")]
        sources.extend(tokens[:-1])
    assert "manage.py" in sources and "requirements.txt" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not is_dockerignored(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"
    # Every Django app is in the image.
    copied = {source.rstrip("/") for source in sources}
    assert {"portal", "squads", "runbooks", "catalogue", "templates"} <= copied


def test_dockerignore_keeps_local_state_out_of_the_image():
    for path in (
        ".git",
        ".venv",
        "var",
        "var/squadron.sqlite3",
        "staticfiles",
        "portal/__pycache__",
        ".env",
        "secrets",
    ):
        assert is_dockerignored(path), path
    assert not is_dockerignored("portal/static/css/squadron.css")
    assert not is_dockerignored("catalogue/demo/playbooks/create_vlan.yml")


def test_image_command_exists_in_the_project():
    for keyword in ("ENTRYPOINT", "CMD"):
        for arguments in instruction_arguments(keyword):
            check_command(json.loads(arguments))
    assert instruction_arguments("CMD"), "the image has no default command"


def collectstatic_step() -> tuple[dict[str, str], list[str]]:
    """The build-time environment and command of the collectstatic RUN."""
    for arguments in instruction_arguments("RUN"):
        if "collectstatic" in arguments:
            tokens = shlex.split(arguments)
            position = next(index for index, token in enumerate(tokens) if "=" not in token)
            end = tokens.index("&&", position) if "&&" in tokens[position:] else len(tokens)
            return dict(token.split("=", 1) for token in tokens[:position]), tokens[position:end]
    raise AssertionError("the Dockerfile does not collect static files")


def test_build_time_secrets_stay_out_of_the_runtime_environment():
    build_env, command = collectstatic_step()
    assert command == ["python", "manage.py", "collectstatic", "--noinput"]
    assert build_env["DEBUG"] == "false"
    runtime_env: dict[str, str] = {}
    for arguments in instruction_arguments("ENV"):
        runtime_env.update(env_assignments(arguments))
    assert runtime_env.get("DEBUG") == "false"
    for name in ("SECRET_KEY", "SQUADRON_CREDENTIAL_KEY", "ALLOWED_HOSTS"):
        assert name in build_env
        assert name not in runtime_env, f"{name} is baked into the image"
        assert not any(arguments.split("=")[0] == name for arguments in instruction_arguments("ARG"))


def test_static_files_collect_with_the_build_time_settings(tmp_path):
    # What the image build runs, into a temporary STATIC_ROOT: the settings
    # accept the build-time values and whitenoise's manifest is produced.
    build_env, _ = collectstatic_step()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO", "SQUADRON"))}
    env.update(build_env, DJANGO_SETTINGS_MODULE="portal.settings")
    env.pop("DATABASE_URL", None)
    script = (
        "import sys, django; django.setup(); from django.conf import settings; "
        "settings.STATIC_ROOT = sys.argv[1]; from django.core.management import call_command; "
        "call_command('collectstatic', interactive=False, verbosity=0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "static")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    assert "css/squadron.css" in manifest["paths"]
