"""Every program, module and manage.py command that the compose file runs exists
in the project with the arguments given, and the check notices what does not."""

from __future__ import annotations

import shlex

import pytest

from tests.deployment.commands import check_command
from tests.deployment.files import APP_SERVICES, compose_services, healthcheck_commands


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
