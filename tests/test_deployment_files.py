"""The deployment files hold together without a Docker engine: docker-compose.yml
has the five services, healthy-first start-up, persistent data and required
secrets; every program, module and manage.py command that the compose file and
the Dockerfile run exists in the project with the arguments given; the image
builds from files that exist and collects static files with throw-away secrets
that stay out of its runtime environment."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import json
import os
import re
import shlex
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

SERVICES = {"postgres", "redis", "web", "worker", "beat"}
APP_SERVICES = {"web", "worker", "beat"}
REQUIRED_SECRETS = {"SECRET_KEY", "SQUADRON_CREDENTIAL_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD"}
# What an operator exports before `docker compose up`.
OPERATOR_ENV = {
    "SECRET_KEY": "s" * 50,
    "SQUADRON_CREDENTIAL_KEY": "c" * 50,
    "ALLOWED_HOSTS": "squadron.example.com",
    "POSTGRES_PASSWORD": "pgpassword123",
}


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
    if program == "sh" and arguments[0] == "-c":
        for command in shell_commands(arguments[1]):
            _check_command(command)
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
    if name == "inspect":
        assert callable(getattr(Inspect, parsed.params["command"], None)), parsed.params["command"]


def healthcheck_commands(healthcheck: dict) -> list[list[str]]:
    test = healthcheck["test"]
    if test[0] == "CMD":
        return [test[1:]]
    assert test[0] == "CMD-SHELL", test
    return shell_commands(test[1])


# --- docker-compose.yml --------------------------------------------------------


def test_compose_file_has_the_five_services_each_with_a_healthcheck():
    services = compose_services()
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
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
    command = services["beat"]["command"]
    schedule = Path(command[command.index("--schedule") + 1])
    assert str(schedule.parent) in mounts("beat"), "beat's schedule would be lost with the container"
    for name in APP_SERVICES:
        assert mounts(name).get("/var/lib/squadron") == "squadron-data", name


def test_compose_refuses_to_start_without_production_secrets():
    for missing in REQUIRED_SECRETS:
        env = {name: value for name, value in OPERATOR_ENV.items() if name != missing}
        with pytest.raises(MissingVariable, match=missing):
            interpolate(compose_file(), env)
    services = compose_services()
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"] == "postgres://squadron:pgpassword123@postgres:5432/squadron"
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert environment["DEBUG"] == "false"
        for secret in ("SECRET_KEY", "SQUADRON_CREDENTIAL_KEY", "ALLOWED_HOSTS"):
            assert environment[secret] == OPERATOR_ENV[secret]
    raw = compose_file()["x-squadron-environment"]
    for secret in ("SECRET_KEY", "SQUADRON_CREDENTIAL_KEY", "ALLOWED_HOSTS"):
        assert raw[secret].startswith(f"${{{secret}:?"), f"{secret} must use ${{{secret}:?…}}"


def test_settings_accept_the_compose_environment():
    environment = compose_services()["worker"]["environment"]
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO", "SQUADRON"))}
    env.update({name: str(value) for name, value in environment.items()})
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.SQUADRON_OUTPUT_DIR)"
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
    assert result.stdout.split() == [
        "False",
        "django.db.backends.postgresql",
        "redis://redis:6379/0",
        "/var/lib/squadron/output",
    ]


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
    assert commands[-1][:3] == ["exec", "gunicorn", "portal.wsgi:application"]
    assert commands[-1][commands[-1].index("--bind") + 1] == "0.0.0.0:8000"
    assert "--workers" in commands[-1]
    assert any(port.endswith(":8000") for port in web["ports"])
    healthcheck = " ".join(web["healthcheck"]["test"])
    assert "urllib" in healthcheck and "http://127.0.0.1:8000/healthz" in healthcheck
    assert resolve("/healthz").url_name == "healthz"


def test_worker_and_beat_run_the_portal_celery_app():
    services = compose_services()
    assert services["worker"]["command"] == ["celery", "-A", "portal", "worker", "--loglevel=INFO"]
    beat = ["celery", "-A", "portal", "beat", "--loglevel=INFO"]
    assert services["beat"]["command"] == [*beat, "--schedule", "/var/lib/squadron/celerybeat-schedule"]


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
    for path in (".git", ".venv", "var", "var/squadron.sqlite3", "staticfiles", "portal/__pycache__", ".env"):
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
