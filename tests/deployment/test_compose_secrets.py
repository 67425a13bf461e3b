"""Secrets in the compose layout are files that no environment holds: the
settings read them, the Redis servers need a password, the cache is out of
the workers' reach, and no healthcheck holds a secret or loads the project."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.deployment.files import (
    APP_SERVICES,
    OPERATOR_ENV,
    ROOT,
    MissingVariable,
    compose_file,
    compose_services,
    healthcheck_commands,
    interpolate,
    written_secrets,
)

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
