"""Why a run failed, in words the requester reads.

A failed task says why in its result (``msg``, and the command's error
output); since ansible-core 2.19 that message often carries the wrappers of
Ansible's error chain ("Task failed: Finalization of task args for '...'
failed: ...") and the paths of the run's private dir, which tell a requester
nothing.

When Ansible refuses the playbook itself (a YAML error, an unknown module, an
undefined variable in a play's keywords) no task fails: it prints the error
outside any task, as ``[ERROR]: <message>``, then ``Origin: <file>:<line>:
<column>`` and an excerpt of that file, a few numbered lines and a caret line
(``^ column 7``). ansible-runner makes one event of each such line.
:class:`AnsibleOutput` reads them in order and keeps the message with the
playbook line it is about, never the excerpt; it also knows the last line
that said something, for a run that ends with no error at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: How Ansible starts an error printed outside a task.
ERROR_PREFIX = "[ERROR]: "

#: The line after a message that names the place it is about.
_ORIGIN = re.compile(r"^Origin: (?P<path>.*?)(?::(?P<line>\d+)(?::\d+)?)?$")
#: Lines of the excerpt under an ``Origin:`` line: numbered lines of the
#: file, the caret line (``^ column 7``, ``column 7 ^`` or ``^^^``), or what
#: stands for them when the file cannot be shown.
_EXCERPT = re.compile(r"^ *\d+(?: .*)?$|^\s*(?:\^ column \d+|column \d+ \^|\^+)$|^\(source not shown: .*\)$")
#: The links of Ansible's error chain that only say where the failure
#: happened (the event already names the task).
_WRAPPERS = re.compile(
    r"^(?:(?:Task|Action|Module) failed: |Finalization of task args for '[^']*' failed: )+"
)
#: The playbook in a run's private dir, as a message names it.
PLAYBOOK = "/project/playbook.yml"


def plain_paths(text: str, private_dir: str) -> str:
    """``text`` with the paths of the run's private dir said in words: the
    playbook (with its line) and the inputs."""
    if not private_dir:
        return text
    where = re.escape(private_dir.rstrip("/"))
    text = re.sub(
        rf"'?{where}{re.escape(PLAYBOOK)}(?::(\d+)(?::\d+)?)?'?",
        lambda match: f"the playbook, line {match[1]}" if match[1] else "the playbook",
        text,
    )
    text = re.sub(rf"'?{where}/env/extravars'?", "the order's inputs", text)
    return re.sub(rf"{where}/?", "", text)


def task_failure(result: Any, private_dir: str = "") -> str:
    """Why a task failed, from its result: its message (the first failed
    item's for a loop) and the last words of the command's error output."""
    if not isinstance(result, Mapping):
        return "failed"
    message = result.get("msg")
    # A loop's task result only says "One or more items failed": the first
    # failed item says why.
    for item in result.get("results") or ():
        if isinstance(item, Mapping) and item.get("failed") and item.get("msg"):
            message = item["msg"]
            break
    message = plain_paths(_WRAPPERS.sub("", str(message or "")), private_dir) or "failed"
    stderr = result.get("stderr")
    stdout = result.get("stdout")
    if isinstance(stderr, str) and stderr.strip():
        message = f"{message} ({stderr.strip()})"
    elif isinstance(stdout, str) and stdout.strip():
        # A command that reports its error on standard output says why in
        # its last line ("non-zero return code" alone says nothing).
        message = f"{message} ({stdout.strip().splitlines()[-1][-300:]})"
    return message


class AnsibleOutput:
    """The lines Ansible printed outside any task, read in order: keeps its
    first error (:attr:`error`) and the last line that said something
    (:attr:`last_line`), both without the excerpts of files."""

    def __init__(self) -> None:
        self.last_line = ""
        self._message: list[str] = []
        self._where = ""
        self._reading_error = False
        self._in_excerpt = False

    @property
    def error(self) -> str:
        """The first error, as its failure reason reads (the paths of the
        private dir aside: see :func:`plain_paths`)."""
        message = _WRAPPERS.sub("", " ".join(self._message))
        return f"{message} ({self._where})" if message and self._where else message

    def read(self, text: str) -> None:
        for line in text.splitlines():
            self._line(line.rstrip())

    def _line(self, line: str) -> None:
        origin = _ORIGIN.match(line)
        if self._reading_error:
            if origin or not line:
                # The message ends where its place or a blank line begins.
                self._reading_error = False
                if origin and origin["line"] and origin["path"].endswith(PLAYBOOK):
                    self._where = f"the playbook, line {origin['line']}"
            else:
                self._message.append(line.strip())
        if origin:
            self._in_excerpt = True
            return
        if self._in_excerpt and (not line or _EXCERPT.match(line)):
            return
        self._in_excerpt = False
        if not line.strip():
            return
        self.last_line = line.strip()
        if line.startswith(ERROR_PREFIX) and not self._message:
            self._message = [line.removeprefix(ERROR_PREFIX).strip()]
            self._reading_error = True
