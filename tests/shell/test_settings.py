"""Configuration: typed environment variables, and production refusing dev secrets."""

from __future__ import annotations

import ast
import importlib.util
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


#: What each test sets itself; DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser
#: tests for their own process (Playwright's loop): no deployment has it, and
#: check --deploy rightly flags it.
OWN_SETTINGS = {
    "DEBUG",
    "SECRET_KEY",
    "SQUADRON_CREDENTIAL_KEY",
    "ALLOWED_HOSTS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in OWN_SETTINGS}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def production_env() -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SQUADRON_CREDENTIAL_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "squadron.example.com",
    }


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("Off", False), ("no", False)])
def test_env_bool_reads_common_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("SOME_FLAG", value)
    assert env_bool("SOME_FLAG", not expected) is expected


def test_env_bool_refuses_a_typo(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG='ture' is not a boolean"):
        env_bool("SOME_FLAG", False)


def test_env_int_refuses_non_numbers_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("SOME_NUMBER", 1)
    monkeypatch.setenv("SOME_NUMBER", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("SOME_NUMBER", 5, minimum=1)


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("SOME_HOSTS", " a.example.com, b.example.com ,")
    assert env_list("SOME_HOSTS", []) == ["a.example.com", "b.example.com"]


def test_production_refuses_development_secrets():
    result = run_manage("check", DEBUG="false", ALLOWED_HOSTS="squadron.example.com")
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off" in result.stderr
    assert "SECRET_KEY" in result.stderr and "SQUADRON_CREDENTIAL_KEY" in result.stderr


@pytest.mark.parametrize(
    "keys",
    [
        "DEV-ONLY-insecure-squadron-credential-key,{random}",  # the public key first: it encrypts
        "{random},DEV-ONLY-insecure-squadron-credential-key",
        "k,{random}",
    ],
)
def test_production_refuses_a_weak_key_anywhere_in_a_credential_key_list(keys):
    environment = {
        **production_env(),
        "SQUADRON_CREDENTIAL_KEY": keys.format(random=secrets.token_urlsafe(40)),
    }
    result = run_manage("check", **environment)
    assert result.returncode != 0
    assert "each key of a comma-separated list" in result.stderr
    rotated = f"{secrets.token_urlsafe(40)},{secrets.token_urlsafe(40)}"
    assert run_manage("check", **{**environment, "SQUADRON_CREDENTIAL_KEY": rotated}).returncode == 0


def test_production_refuses_missing_allowed_hosts():
    environment = production_env()
    del environment["ALLOWED_HOSTS"]
    result = run_manage("check", **environment)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_bad_debug_value_stops_start_up():
    result = run_manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_check_deploy_is_clean_for_production_configuration():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_mode_says_loudly_that_secrets_are_for_development():
    result = run_manage("check")
    assert result.returncode == 0, result.stderr
    assert "DEVELOPMENT secrets" in result.stderr


def test_the_embedded_broker_starts_without_kombu_warning_of_a_missing_host(tmp_path):
    """kombu logs "No hostname was supplied" for a bare filesystem:// URL."""
    code = (
        "import logging, django; logging.basicConfig(); django.setup()\n"
        "from portal.celery import app\n"
        "with app.connection_for_write() as connection: print(connection.info()['hostname'])\n"
    )
    environment = {key: value for key, value in os.environ.items() if key not in OWN_SETTINGS}
    environment.pop("CELERY_BROKER_URL", None)
    environment.update(SQUADRON_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="portal.settings")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "localhost"
    assert "No hostname was supplied" not in result.stderr


@pytest.mark.parametrize(
    "cache_url, broker_url",
    [
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("redis://web:secret@localhost:6379", "redis://127.0.0.1:6379/0"),
    ],
)
def test_production_refuses_a_cache_in_the_brokers_redis_database(cache_url, broker_url):
    result = run_manage("check", **production_env(), CACHE_URL=cache_url, CELERY_BROKER_URL=broker_url)
    assert result.returncode != 0
    assert "CACHE_URL names the same Redis server and database as CELERY_BROKER_URL" in result.stderr
    assert "secret" not in result.stderr


def test_a_cache_in_another_database_of_the_brokers_redis_is_allowed():
    result = run_manage(
        "check",
        **production_env(),
        CACHE_URL="redis://redis:6379/1",
        CELERY_BROKER_URL="redis://redis:6379/0",
    )
    assert result.returncode == 0, result.stderr


def test_the_readme_lists_every_environment_variable_the_settings_read():
    """An operator finds every knob in the README's configuration table (a
    secret's ``*_FILE`` form is documented with the secrets)."""
    root = Path(__file__).resolve().parents[2]
    tree = ast.parse((root / "portal" / "settings.py").read_text())
    read = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("env_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }
    readme = (root / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Deployment")]
    assert len(read) > 40
    assert sorted(name for name in read if f"`{name}`" not in table) == []


def test_production_requires_a_two_step_login_of_curators_and_development_of_nobody():
    show = ("shell", "-c", "from django.conf import settings; print(settings.SQUADRON_REQUIRE_MFA)")
    production = run_manage(*show, **production_env())
    assert production.returncode == 0, production.stderr
    assert production.stdout.strip().splitlines()[-1] == "staff"
    development = run_manage(*show)
    assert development.stdout.strip().splitlines()[-1] == "none"


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("SQUADRON_REQUIRE_MFA", "staf", "SQUADRON_REQUIRE_MFA must be none, staff or all, not 'staf'"),
        ("SQUADRON_TRUSTED_PROXY_HEADER", "X-Forwarded-For: 1.2.3.4", "must be a header name"),
        ("SQUADRON_LOGIN_FAILURE_LIMIT", "0", "SQUADRON_LOGIN_FAILURE_LIMIT=0 must be at least 1"),
        ("SQUADRON_LOGIN_LOCKOUT_MINUTES", "soon", "SQUADRON_LOGIN_LOCKOUT_MINUTES='soon' is not an integer"),
    ],
)
def test_a_bad_login_setting_stops_start_up(variable, value, message):
    result = run_manage("check", **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_a_directory_that_would_get_passwords_in_clear_text():
    directory = {
        "SQUADRON_LDAP_SERVER_URI": "ldap://dc1.corp.example.com",
        "SQUADRON_LDAP_USER_SEARCH_BASE": "ou=people,dc=corp,dc=example,dc=com",
    }
    if not importlib.util.find_spec("ldap"):
        pytest.skip("python-ldap is not installed (no OpenLDAP headers on this machine)")
    refused = run_manage("check", **production_env(), **directory)
    assert refused.returncode != 0
    assert "Refusing to send passwords in clear text to ldap://dc1.corp.example.com" in refused.stderr
    # A list of servers (OpenLDAP reads commas as spaces) hides none.
    listed = run_manage(
        "check",
        **production_env(),
        **{**directory, "SQUADRON_LDAP_SERVER_URI": "ldaps://dc1.corp.example.com,ldap://dc2"},
    )
    assert listed.returncode != 0 and "in clear text to ldap://dc2" in listed.stderr
    for fine in (
        {"SQUADRON_LDAP_START_TLS": "true"},
        {"SQUADRON_LDAP_SERVER_URI": "ldaps://dc1.corp.example.com"},
        {"SQUADRON_LDAP_SERVER_URI": "ldap://127.0.0.1:3389"},
        {"SQUADRON_LDAP_SERVER_URI": "ldaps://dc1.corp.example.com ldap://localhost"},
    ):
        result = run_manage("check", **production_env(), **{**directory, **fine})
        assert result.returncode == 0, (fine, result.stderr)
    # Development, against a test directory, may.
    assert run_manage("check", **directory).returncode == 0


def test_an_issuer_is_kept_as_the_provider_writes_it_trailing_slash_and_all():
    """Auth0's issuer ends with a slash, and the tokens' issuer must match it
    exactly: the setting is not trimmed."""
    show = ("shell", "-c", "from django.conf import settings; print(settings.SQUADRON_OIDC_ISSUER)")
    result = run_manage(
        *show,
        SQUADRON_OIDC_ISSUER="https://tenant.eu.auth0.com/",
        SQUADRON_OIDC_CLIENT_ID="squadron",
        SQUADRON_OIDC_CLIENT_SECRET="a-client-secret",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "https://tenant.eu.auth0.com/"
