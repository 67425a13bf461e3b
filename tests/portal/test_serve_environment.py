"""``serve`` gives the processes it starts the address it serves on (links
in emails lead there, not to port 8000 whatever --addr said) and says the
development-secrets warning once, not once per process."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

from portal.management.commands.serve import child_environment


def test_links_lead_to_the_address_served_on_unless_the_base_url_is_set():
    assert child_environment("127.0.0.1:9123", {})["SQUADRON_BASE_URL"] == "http://127.0.0.1:9123"
    given = {"SQUADRON_BASE_URL": "https://squadron.example.com"}
    assert child_environment("127.0.0.1:9123", given)["SQUADRON_BASE_URL"] == "https://squadron.example.com"
    anywhere = child_environment("0.0.0.0:8080", {})["SQUADRON_BASE_URL"]
    assert anywhere.endswith(":8080") and "0.0.0.0" not in anywhere  # noqa: S104 - a URL, not a bind


def test_a_child_of_serve_does_not_repeat_the_development_secrets_warning():
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='portal.settings'; django.setup()"
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SQUADRON_DEV_WARNED")}
    base.update(DEBUG="1", DJANGO_SETTINGS_MODULE="portal.settings")
    alone = subprocess.run(
        [sys.executable, "-c", code],
        env=base,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        check=True,
    )
    assert "DEVELOPMENT secrets" in alone.stderr
    child = subprocess.run(
        [sys.executable, "-c", code],
        env=child_environment("127.0.0.1:8001", base),
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        check=True,
    )
    assert "DEVELOPMENT secrets" not in child.stderr


def test_what_a_task_prints_is_not_logged_as_a_warning():
    assert settings.CELERY_WORKER_REDIRECT_STDOUTS is False
