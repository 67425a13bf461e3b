"""The extra-vars file a run hands to ansible-playbook.

User inputs are data, never templates: every string that comes from a user is
written with Ansible's ``!unsafe`` tag (dictionary keys and strings nested in
lists and objects included), so a value such as ``{{ lookup('pipe', 'id') }}``
reaches the playbook literally and is never rendered by Jinja. Numbers,
booleans and nulls cannot be templates and are written plainly. Variables the
executor itself sets (``squadron_run_id``, ``squadron_check_mode``) are trusted
and written plainly too.

Input names become Ansible variable names, which have the highest precedence
of all (extra vars): a name that is not an identifier, or that would steer
Ansible itself (``ansible_python_interpreter``, ``hostvars``...), is refused.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

import yaml

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


class UnsafeText(str):
    """A string written with Ansible's ``!unsafe`` tag."""

    __slots__ = ()


class _ExtraVarsDumper(yaml.SafeDumper):
    pass


def _represent_unsafe(dumper: yaml.SafeDumper, value: UnsafeText) -> yaml.ScalarNode:
    # Quoted so that a value like "123" or "yes" stays a string whatever the
    # reader's YAML version; PyYAML switches to double quotes when needed.
    return dumper.represent_scalar("!unsafe", str(value), style="'")


_ExtraVarsDumper.add_representer(UnsafeText, _represent_unsafe)


def validate_input_names(inputs: Mapping[str, Any]) -> None:
    """Raise :class:`ExtraVarsError` naming every input that cannot be an
    Ansible variable."""
    problems = []
    for name in inputs:
        if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
            problems.append(f"{name!r} is not a valid variable name (letters, digits and _ only)")
        elif keyword.iskeyword(name) or name.startswith("_"):
            problems.append(f"{name!r} is not allowed as a variable name")
        elif name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES:
            problems.append(f"{name!r} is reserved for Ansible or Squadron")
    if problems:
        raise ExtraVarsError("Invalid input names: " + "; ".join(problems) + ".")


def mark_unsafe(value: Any) -> Any:
    """``value`` with every string in it (keys too) turned into
    :class:`UnsafeText`; other scalars unchanged."""
    if isinstance(value, str):
        if contains_surrogate(value):
            # Ansible cannot read it back, and says so by quoting the file.
            raise ExtraVarsError("Inputs may not contain lone UTF-16 surrogates: they are not text.")
        return UnsafeText(value)
    if isinstance(value, Mapping):
        return {mark_unsafe(key): mark_unsafe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mark_unsafe(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ExtraVarsError(f"Inputs must be JSON data; got a {type(value).__name__}.")


def render_extravars(
    *, inputs: Mapping[str, Any], trusted: Mapping[str, Any], data: Mapping[str, Any] | None = None
) -> str:
    """The YAML text of the extra-vars file: ``inputs`` tagged ``!unsafe``,
    ``trusted`` written as they are, and ``data`` (variables Squadron sets,
    named ``squadron_*``, whose values come from users or playbooks, such
    as ``squadron_instance``) tagged ``!unsafe`` like inputs."""
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
    """YAML variables (for a vars file) with every string tagged ``!unsafe``:
    for values that are data but not user inputs, like a password that may
    contain ``{{``."""
    return _dump({name: mark_unsafe(value) for name, value in variables.items()})


def _dump(document: Mapping[str, Any]) -> str:
    return yaml.dump(
        document,
        Dumper=_ExtraVarsDumper,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        width=2**30,  # no folding: long values stay on one line
    )
