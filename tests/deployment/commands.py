"""Checking that a command line of the compose file or the Dockerfile can run
in the image: the program exists in the project and accepts the arguments."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import shutil

import click
from celery import Celery
from celery.app.control import Inspect
from celery.app.utils import find_app
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli
from django.core.management import CommandError, get_commands, load_command_class
from gunicorn.config import Config as GunicornConfig

from tests.deployment.files import APP_DIR, ROOT, shell_commands

# Programs of the Debian base image a healthcheck may call.
BASE_PROGRAMS = {"find", "grep"}


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
