"""What a playbook does, for comparing runbooks: each task's module with the
shape of its arguments (the argument names it passes, not their values), the
host patterns its plays target, and the templates and files it reads or writes.

Two runbooks that both call ``ansible.builtin.copy`` share little; two that
call ``copy`` with ``content, dest, mode`` in the same places, target the
same hosts and render the same templates do the same job. Module names alone
made the demo's VM and namespace runbooks look 65 % alike.

The playbook is read with the same bounded loader as ``runbooks.analysis`` (no
anchors, a node budget): a hostile playbook costs a bounded amount of work.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from runbooks import yamlsafe
from runbooks.analysis import ANALYSIS_MAX_NODES, TASK_KEYWORDS, module_name

#: Blocks nested deeper than this are not followed (a real playbook nests a few).
MAX_DEPTH = 20
#: Arguments that name a template or file the task reads.
SOURCE_ARGUMENTS = ("src", "template", "file", "dest", "path")
#: ``lookup('template', 'x.j2')``, ``lookup("ansible.builtin.file", "y")``.
LOOKUP = re.compile(r"""lookup\(\s*['"](?:ansible\.builtin\.)?(template|file)['"]\s*,\s*['"]([^'"]+)['"]""")


@dataclass
class PlaybookActions:
    """Multisets of what the playbook does (empty when it cannot be read)."""

    #: ``module(arg)``: each argument name a module is called with (one per
    #: task and argument), so one optional argument more or less changes a
    #: task's share a little, not all of it.
    actions: Counter[str] = field(default_factory=Counter)
    #: ``module(arg,arg)``: each task's whole call, in task order (blocks flattened).
    sequence: list[str] = field(default_factory=list)
    hosts: Counter[str] = field(default_factory=Counter)
    #: Templates and files read or written, by file name (their folder is
    #: the squad's taste; a name made only of variables says nothing).
    files: Counter[str] = field(default_factory=Counter)


def action_shape(module: str, arguments: Any) -> str:
    """``ansible.builtin.copy(content,dest,mode)``; free-form arguments
    (``command: ls``) are ``module(…)``."""
    if isinstance(arguments, dict):
        names = sorted(str(name) for name in arguments)
        return f"{module}({','.join(names)})"
    return f"{module}(…)" if arguments not in (None, "") else f"{module}()"


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


class _Reader:
    def __init__(self) -> None:
        self.found = PlaybookActions()

    def strings(self, value: Any, depth: int = 0) -> Iterable[str]:
        if depth > MAX_DEPTH:
            return
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from self.strings(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                yield from self.strings(item, depth + 1)

    def add_file(self, path: str) -> None:
        name = _file_name(path)
        if name and "{{" not in name and "}}" not in name:
            self.found.files[name] += 1

    def read_sources(self, value: Any) -> None:
        for text in self.strings(value):
            for _kind, path in LOOKUP.findall(text):
                self.add_file(path)

    def read_tasks(self, tasks: Any, depth: int = 0) -> None:
        if not isinstance(tasks, list) or depth > MAX_DEPTH:
            return
        for task in tasks:
            if not isinstance(task, dict):
                continue
            if any(section in task for section in ("block", "rescue", "always")):
                for section in ("block", "rescue", "always"):
                    self.read_tasks(task.get(section), depth + 1)
                continue
            self.read_task(task)

    def read_task(self, task: dict[str, Any]) -> None:
        module_key = next((key for key in task if key not in TASK_KEYWORDS), None)
        arguments: Any = task.get(module_key) if module_key else None
        if module_key is None and isinstance(task.get("action"), dict):
            module_key = task["action"].get("module")
            arguments = {key: value for key, value in task["action"].items() if key != "module"}
        if not module_key:
            return
        if isinstance(task.get("args"), dict):
            arguments = {**(arguments if isinstance(arguments, dict) else {}), **task["args"]}
        module = module_name(str(module_key))
        self.found.sequence.append(action_shape(module, arguments))
        if isinstance(arguments, dict) and arguments:
            self.found.actions.update(f"{module}({name})" for name in arguments)
        else:
            self.found.actions[action_shape(module, arguments)] += 1
        if isinstance(arguments, dict):
            for name in SOURCE_ARGUMENTS:
                if isinstance(arguments.get(name), str):
                    self.add_file(arguments[name])
        self.read_sources(arguments)

    def read_play(self, play: dict[str, Any]) -> None:
        hosts = play.get("hosts")
        for pattern in hosts if isinstance(hosts, list) else [hosts]:
            if isinstance(pattern, str) and pattern:
                self.found.hosts[pattern.strip()] += 1
        self.read_sources(play.get("vars"))
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            self.read_tasks(play.get(section))


def playbook_actions(content: str) -> PlaybookActions:
    """What the playbook does (cached by content: versions are immutable)."""
    return _read(hashlib.sha256(content.encode()).hexdigest(), content)


@functools.lru_cache(maxsize=1024)
def _read(checksum: str, content: str) -> PlaybookActions:
    try:
        document = yamlsafe.load(content, max_nodes=ANALYSIS_MAX_NODES)
    except (yamlsafe.YAMLRefused, yaml.YAMLError):
        return PlaybookActions()  # ``analyse_playbook`` says why; the pair is not scored
    reader = _Reader()
    for play in document if isinstance(document, list) else []:
        if isinstance(play, dict):
            reader.read_play(play)
    return reader.found
