"""What makes a playbook acceptable before it becomes a runbook version."""

from __future__ import annotations

import hashlib

import yaml
from django.core.exceptions import ValidationError

from runbooks import yamlsafe

#: Keys by which Ansible recognises a play (or an import of plays).
PLAY_KEYS = {"hosts", "import_playbook", "ansible.builtin.import_playbook"}


def playbook_checksum(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def validate_playbook(content: str) -> list[dict]:
    """Parse a playbook and return its plays, or raise ``ValidationError``
    saying exactly what is wrong (with the line for YAML errors)."""
    if not content or not content.strip():
        raise ValidationError("The playbook is empty: it needs at least one play.")
    try:
        document = yamlsafe.load(content)
    except yamlsafe.YAMLRefused as error:
        # Not a syntax error: Ansible would run it, but a small playbook
        # could stand for an endless one (see runbooks.yamlsafe).
        raise ValidationError(f"The playbook cannot be accepted: {error.problem}.") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ValidationError(f"The playbook is not valid YAML{where}: {problem}.") from None
    if not isinstance(document, list) or not document:
        raise ValidationError("A playbook must be a YAML list of plays (for example '- hosts: localhost').")
    for index, play in enumerate(document, start=1):
        if not isinstance(play, dict) or not PLAY_KEYS & play.keys():
            raise ValidationError(
                f"Item {index} of the playbook is not a play: a play is a mapping with 'hosts'."
            )
        problem = _play_problem(play)
        if problem:
            raise ValidationError(f"Play {index} of the playbook {problem}.")
    return document


#: Sections of a play that hold tasks (or handlers): each must be a list of them.
TASK_SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")


def _play_problem(play: dict) -> str | None:
    """What Ansible would refuse in a play's shape only when it runs (an
    empty ``hosts``, ``tasks: 5``), found while the runbook is edited."""
    if "hosts" in play:
        hosts = play["hosts"]
        if hosts in (None, "", []) or not isinstance(hosts, str | list):
            return "names no hosts: 'hosts' must be a pattern such as localhost or all"
    for section in TASK_SECTIONS:
        if section not in play or play[section] is None:
            continue
        tasks = play[section]
        if not isinstance(tasks, list):
            return f"has '{section}' that is not a list of tasks"
        for number, task in enumerate(tasks, start=1):
            if not isinstance(task, dict):
                return f"has item {number} of '{section}' that is not a task (a mapping)"
    return None
