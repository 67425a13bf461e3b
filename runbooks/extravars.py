"""The extra-vars file a run hands to ansible-playbook.

User inputs are data, never templates: every string that comes from a user is
written as Ansible's unsafe marker ``{"__ansible_unsafe": "..."}`` (the JSON
form of the ``!unsafe`` tag), in lists and objects at any depth too, so a
value such as ``{{ lookup('pipe', 'id') }}`` reaches the playbook literally
and is never rendered by Jinja. Numbers, booleans and nulls cannot be
templates and are written plainly. Object keys are plain strings: Ansible
(2.19 and later) never renders a key, and JSON has no way to mark one.
Variables the executor itself sets (``squadron_run_id``,
``squadron_check_mode``) are trusted and written plainly too.

Why JSON and not YAML: since ansible-core 2.19 every value remembers the file,
line and column it was read from, and Ansible's errors and warnings quote the
lines around that place (an input named ``name`` makes it warn, quoting the
two lines above). Those lines hold other inputs, secrets among them, cut at
120 characters where no masking can recognise what is left of a secret.
Ansible reads JSON without positions: it names the file and quotes nothing.

Ansible tries JSON first and, when that fails, reads the file as YAML, where
every string would be a trusted template. Two things keep it on JSON: the
file starts with a tab, which JSON skips and YAML refuses, and keys beginning
with ``__ansible`` are refused, since Ansible's JSON reader takes an object
holding one for a marker (and a malformed marker fails the JSON).

Input names become Ansible variable names, which have the highest precedence
of all (extra vars): a name that is not an identifier, or that would steer
Ansible itself (``ansible_python_interpreter``, ``hostvars``...), is refused.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from collections.abc import Mapping
from typing import Any

#: Prefixes of names an input may not take: ``ansible_*`` are connection and
#: interpreter settings (an input could choose the program Ansible executes),
#: ``squadron_*`` are the executor's own trusted variables.
RESERVED_PREFIXES = ("ansible_", "squadron_")

#: Ansible's magic variables and the template globals playbooks rely on. An
#: extra var with such a name would shadow them for the whole run. (Play
#: keywords such as ``name`` or ``port`` only make Ansible warn: common form
#: field names, so they stay allowed.)
RESERVED_NAMES = frozenset(
    {
        "environment",
        "group_names",
        "groups",
        "hostvars",
        "inventory_dir",
        "inventory_file",
        "inventory_hostname",
        "inventory_hostname_short",
        "omit",
        "play_hosts",
        "playbook_dir",
        "role_name",
        "role_names",
        "role_path",
        "vars",
        # Jinja globals of Ansible's templar.
        "cycler",
        "dict",
        "joiner",
        "lipsum",
        "lookup",
        "namespace",
        "now",
        "q",
        "query",
        "range",
        "undef",
    }
)

#: Keys Ansible's JSON reader takes for its own markers (``__ansible_unsafe``,
#: ``__ansible_vault``, and whatever a later version adds).
MARKER_KEY_PREFIX = "__ansible"

#: What the file starts with: JSON skips a tab, YAML refuses one at the start
#: of a line, so Ansible can never fall back to reading the file as YAML.
NOT_YAML = "\t\n"


# Half of a UTF-16 surrogate pair alone: JSON's "\ud800" escape produces it,
# but it is not text. It cannot be encoded as UTF-8 (every answer showing it
# would fail) and Ansible cannot read it back from the extra-vars file.
_SURROGATE = re.compile("[\ud800-\udfff]")


def contains_surrogate(value: object) -> bool:
    """Whether any string in JSON-like ``value`` (keys included) holds a lone surrogate."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


class ExtraVarsError(ValueError):
    """The inputs cannot be handed to Ansible as extra vars."""


def validate_input_names(inputs: Mapping[str, Any]) -> None:
    """Raise :class:`ExtraVarsError` naming every input that cannot be an
    Ansible variable."""
    problems = [problem for name in inputs if (problem := input_name_problem(name)) is not None]
    if problems:
        raise ExtraVarsError("Invalid input names: " + "; ".join(problems) + ".")


def input_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be an input's (and so an Ansible variable's) name,
    or None. The catalogue asks the same when a form is curated, so a form
    whose field could never reach the playbook is refused at save rather
    than failing its first order."""
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        return f"{name!r} is not a valid variable name (letters, digits and _ only)"
    if keyword.iskeyword(name) or name.startswith("_"):
        return f"{name!r} is not allowed as a variable name"
    if name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES:
        return f"{name!r} is reserved for Ansible or Squadron"
    return None


def mark_unsafe(value: Any) -> Any:
    """``value`` as written to the file: every string in it turned into
    Ansible's unsafe marker; other scalars, and keys, unchanged. Raises
    :class:`ExtraVarsError` for what Ansible could not read back as data."""
    if isinstance(value, str):
        if contains_surrogate(value):
            # Ansible's JSON reader refuses it (it checks that every string
            # can be UTF-8).
            raise ExtraVarsError("Inputs may not contain lone UTF-16 surrogates: they are not text.")
        return {"__ansible_unsafe": value}
    if isinstance(value, Mapping):
        return {_key(key): mark_unsafe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mark_unsafe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ExtraVarsError("Inputs may not hold NaN or infinite numbers: JSON has no such numbers.")
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ExtraVarsError(f"Inputs must be JSON data; got a {type(value).__name__}.")


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise ExtraVarsError(f"Inputs must be JSON data; got a key that is a {type(key).__name__}.")
    if key.startswith(MARKER_KEY_PREFIX):
        raise ExtraVarsError(
            f"Inputs may not use keys beginning with {MARKER_KEY_PREFIX!r} ({key!r}): "
            "Ansible reads them as its own markers."
        )
    if contains_surrogate(key):
        raise ExtraVarsError("Inputs may not contain lone UTF-16 surrogates: they are not text.")
    return key


def render_extravars(
    *, inputs: Mapping[str, Any], trusted: Mapping[str, Any], data: Mapping[str, Any] | None = None
) -> str:
    """The text of the extra-vars file: ``inputs`` marked unsafe, ``trusted``
    written as they are, and ``data`` (variables Squadron sets,
    named ``squadron_*``, whose values come from users or playbooks, such
    as ``squadron_instance``) marked unsafe like inputs."""
    validate_input_names(inputs)
    data = data or {}
    misnamed = sorted(name for name in data if not name.startswith("squadron_") or name in trusted)
    if misnamed:
        raise ExtraVarsError(f"Squadron's own variables are named squadron_*: not {misnamed}.")
    clash = set(inputs) & set(trusted)
    if clash:
        raise ExtraVarsError(f"Inputs may not set {sorted(clash)}.")
    unsafe = {name: mark_unsafe(value) for name, value in {**inputs, **data}.items()}
    return _dump({**unsafe, **trusted})


def render_unsafe_vars(variables: Mapping[str, Any]) -> str:
    """Variables (for a vars file) with every string marked unsafe: for
    values that are data but not user inputs, like a password that may
    contain ``{{``. The same format as the extra-vars file, for the same
    reasons."""
    return _dump({name: mark_unsafe(value) for name, value in variables.items()})


def _dump(document: Mapping[str, Any]) -> str:
    # One value per line keeps the file readable when someone debugs a run;
    # ASCII only, so that no reader's encoding matters.
    return NOT_YAML + json.dumps(document, indent=1, ensure_ascii=True, allow_nan=False) + "\n"
