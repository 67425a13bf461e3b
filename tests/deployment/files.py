"""Reading the deployment files as Docker would: docker-compose.yml with
compose's variable syntax, the Dockerfile's instructions, .dockerignore, and
what deploy/compose_secrets.py writes."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
APP_DIR = "/app"  # the image's WORKDIR: where the project is copied
APP_SERVICES = {"web", "worker", "webhook-worker", "beat"}
# What an operator exports before `docker compose up` (the secrets are files).
OPERATOR_ENV = {"ALLOWED_HOSTS": "squadron.example.com"}
SECRETS_SCRIPT = ROOT / "deploy" / "compose_secrets.py"


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


def healthcheck_commands(healthcheck: dict) -> list[list[str]]:
    test = healthcheck["test"]
    if test[0] == "CMD":
        return [test[1:]]
    assert test[0] == "CMD-SHELL", test
    return [command for part in test[1].split("|") for command in shell_commands(part)]


def written_secrets(folder: Path) -> dict[str, str]:
    """What deploy/compose_secrets.py writes into ``folder``, by file name."""
    result = subprocess.run(
        [sys.executable, str(SECRETS_SCRIPT), str(folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return {path.name: path.read_text() for path in folder.iterdir()}
