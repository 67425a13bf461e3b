"""Typed reading of environment variables that fails loudly on bad values.

Settings are 12-factor: every knob is an environment variable. A typo such as
``DEBUG=ture`` must stop the process at start-up rather than silently pick a
default, so each reader raises ``ImproperlyConfigured`` naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import overload

from django.core.exceptions import ImproperlyConfigured

from runbooks.hardening import deny_inspection_by_playbooks

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# With a default, a setting always has a value: the overloads tell the type checker.
@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


@overload
def env_secret(name: str, default: str) -> str: ...
@overload
def env_secret(name: str, default: None = None) -> str | None: ...
def env_secret(name: str, default: str | None = None) -> str | None:
    """A secret from ``NAME``, or from the file that ``NAME_FILE`` names.

    The file form keeps the secret out of every process environment: an init
    such as tini, a shell, a ``docker exec``'d healthcheck all hold only the
    path, and ``/proc/<pid>/environ`` shows nothing worth reading. The
    process that reads the file makes itself non-dumpable first, so the
    secret it now holds in memory is out of reach of its user's other
    processes (playbooks run with isolation ``none``). The file itself is
    readable by whoever may read it: with isolation ``none`` that includes a
    playbook of the same OS user; the bubblewrap sandbox does not show it.
    """
    path = env_str(f"{name}_FILE")
    if path is None:
        return env_str(name, default)
    if env_str(name) is not None:
        raise ImproperlyConfigured(f"{name} and {name}_FILE are both set: set only one of them.")
    deny_inspection_by_playbooks()
    try:
        # A file written by `echo` or an editor ends with a newline that is
        # not part of the secret.
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {error}") from None
    if not secret:
        raise ImproperlyConfigured(f"{name}_FILE={path!r} is empty.")
    return secret


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]
