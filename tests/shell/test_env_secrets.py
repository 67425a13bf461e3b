"""Secrets from files (``NAME_FILE``): what compose's secrets give, so that no
process environment holds them, and the process reading one is sealed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_secret

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAMES = ("SECRET_KEY", "SQUADRON_CREDENTIAL_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")

# Reads a secret in a process of its own (reading one from a file seals the
# process: not the test's) and tells what it got and whether it is dumpable.
READ = """
import ctypes, json, sys
from portal.env import env_secret
try:
    value = env_secret(sys.argv[1], "default")
except Exception as error:
    print(json.dumps({"error": str(error)}))
else:
    print(json.dumps({"value": value, "dumpable": ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)}))
"""


def read_in_child(name: str, **env: str) -> dict:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(name)}
    result = subprocess.run(
        [sys.executable, "-c", READ, name],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_a_secret_is_read_from_the_file_its_FILE_variable_names_and_seals_the_reader(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("from-a-file-0123456789\n")
    assert read_in_child("SOME_SECRET", SOME_SECRET_FILE=str(secret)) == {
        "value": "from-a-file-0123456789",
        "dumpable": 0,
    }


def test_a_secret_in_the_environment_still_works_and_the_default_stays(monkeypatch):
    monkeypatch.setenv("SOME_SECRET", "plain")
    assert env_secret("SOME_SECRET", "default") == "plain"
    monkeypatch.delenv("SOME_SECRET")
    assert env_secret("SOME_SECRET", "default") == "default"


def test_both_the_variable_and_its_file_set_is_an_error_naming_both(monkeypatch, tmp_path):
    monkeypatch.setenv("SOME_SECRET", "plain")
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "secret"))
    with pytest.raises(ImproperlyConfigured, match="SOME_SECRET and SOME_SECRET_FILE are both set"):
        env_secret("SOME_SECRET")


@pytest.mark.parametrize("content", [None, "", "\n"], ids=["missing", "empty", "blank"])
def test_a_file_that_is_missing_or_empty_stops_the_start(tmp_path, content):
    secret = tmp_path / "secret"
    if content is not None:
        secret.write_text(content)
    answer = read_in_child("SOME_SECRET", SOME_SECRET_FILE=str(secret))
    assert f"SOME_SECRET_FILE={str(secret)!r}" in answer["error"]


def test_production_settings_read_every_secret_from_files(tmp_path):
    values = {
        "SECRET_KEY": "k" * 50,
        "SQUADRON_CREDENTIAL_KEY": "c" * 50,
        "DATABASE_URL": "postgres://squadron:pw-from-file@postgres:5432/squadron",
        "CELERY_BROKER_URL": "redis://worker:broker-pw@redis:6379/0",
        "CACHE_URL": "redis://web:cache-pw@redis-cache:6379/0",
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "SQUADRON"))}
    for name in SECRET_NAMES:
        env.pop(name, None)
        (tmp_path / name).write_text(values[name] + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    env.update(DEBUG="false", ALLOWED_HOSTS="squadron.example.com", DJANGO_SETTINGS_MODULE="portal.settings")
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECRET_KEY, s.SQUADRON_CREDENTIAL_KEY, s.DATABASES['default']['PASSWORD'], "
        "s.CELERY_BROKER_URL, s.CACHES['default']['LOCATION']]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        values["SECRET_KEY"],
        values["SQUADRON_CREDENTIAL_KEY"],
        "pw-from-file",
        values["CELERY_BROKER_URL"],
        values["CACHE_URL"],
    ]
