"""The image builds from files that exist and reach the build context, runs
unprivileged with the tools runbooks call, runs commands the project has, and
collects static files with throw-away secrets that stay out of its runtime
environment."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

from tests.deployment.commands import check_command
from tests.deployment.files import APP_DIR, ROOT, env_assignments, instruction_arguments, is_dockerignored


def test_image_is_python_311_slim_and_runs_unprivileged():
    assert instruction_arguments("FROM") == ["python:3.13-slim"]
    users = instruction_arguments("USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert instruction_arguments("WORKDIR")[-1] == APP_DIR


def test_image_installs_the_hashed_lock_and_the_tools_runbooks_call():
    runs = " ".join(instruction_arguments("RUN"))
    # Every package from the lock, checked against its hash, nothing resolved at build time.
    assert "pip install --require-hashes --no-deps --requirement requirements.lock" in runs
    assert re.search(r"apt-get install [^&]*\blibpq5\b", runs)
    assert re.search(r"apt-get install [^&]*\bopenssl\b", runs)
    assert re.search(r"apt-get install [^&]*\bopenssh-client\b", runs)
    requirements = {
        re.split(r"[=<>\[;]", line, maxsplit=1)[0].strip().lower()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith((" ", "#"))
    }
    needed = {
        "gunicorn",
        "celery",
        "redis",
        "psycopg",
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
    assert "manage.py" in sources and "requirements.lock" in sources
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


def test_image_builds_python_ldap_and_keeps_the_libraries_it_links():
    """python-ldap (LDAP logins) ships no wheels: it is compiled against
    Debian's OpenLDAP and SASL headers in the same step as the lock's install;
    the compiler and headers go, without --auto-remove, which would take the
    client libraries python-ldap links with them."""
    runs = instruction_arguments("RUN")
    (install,) = [run for run in runs if "requirements.lock" in run]
    for package in ("gcc", "libldap-dev", "libsasl2-dev"):
        assert re.search(rf"apt-get install [^&]*\b{package}\b", install), package
    assert install.index("libldap-dev") < install.index("pip install")
    assert "--auto-remove" not in install and "autoremove" not in install
