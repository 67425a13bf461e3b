"""The parse stage's raw material: the YAML document with the line of every
path in it, and the files it names (playbooks), read without ever leaving the
catalogue file's folder."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import yaml

from catalogue.importing.errors import ErrorLog, describe
from catalogue.importing.specs import DocPath
from runbooks import yamlsafe

#: Values a catalogue file may hold. Its loader refuses anchors and aliases
#: (a "billion laughs" in a form's examples would otherwise expand when the
#: form is checked) and nesting deeper than ``yamlsafe.MAX_DEPTH``, so every
#: walk over the document is bounded by this.
MAX_NODES = 200_000
#: Largest playbook file read, well above any playbook a person maintains.
MAX_PLAYBOOK_BYTES = 2 * 1024 * 1024


class CatalogueLoader(yamlsafe.BoundedSafeLoader):
    """The pure-Python loader, whose syntax errors the import reports as
    they are; it refuses aliases and anchors as it composes."""

    max_nodes = MAX_NODES


def node_lines(root: yaml.Node) -> tuple[dict[DocPath, int], list[tuple[DocPath, int, int]]]:
    """The line (1-based) of every path in the document, and its duplicate keys
    as ``(path, line of the duplicate, line of the first one)``.

    A mapping key maps to the line of the key itself, so an error about a
    block value (``form:``) points at its key; a list item to its first line.
    """
    lines: dict[DocPath, int] = {(): root.start_mark.line + 1}
    duplicates: list[tuple[DocPath, int, int]] = []
    stack: list[tuple[yaml.Node, DocPath]] = [(root, ())]
    visited = 0
    while stack and visited < MAX_NODES:
        node, path = stack.pop()
        visited += 1
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first_line:
                    duplicates.append(((*path, key), line, first_line[key]))
                    continue
                first_line[key] = line
                lines.setdefault((*path, key), line)
                stack.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*path, index), item.start_mark.line + 1)
                stack.append((item, (*path, index)))
    return lines, duplicates


def load_document(path: Path, log: ErrorLog) -> object | None:
    """The document at ``path``, or None after logging why there is none;
    fills ``log.lines`` and logs the duplicate keys YAML would hide."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        log.error((), f"cannot read the file: {error.strerror or error}")
        return None
    except UnicodeDecodeError as error:
        log.error((), f"the file is not UTF-8 text: {error.reason} at byte {error.start}")
        return None
    loader = None
    try:
        # The loader refuses non-printable characters as soon as it is made.
        loader = CatalogueLoader(text)
        node = loader.get_single_node()
        if node is None:
            log.error((), "the file is empty; expected a mapping with squads, runbooks, products…")
            return None
        log.lines, duplicates = node_lines(node)
        document = loader.construct_document(node)
    except yamlsafe.YAMLRefused as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        log.at_line(line, error.problem or "refused")
        return None
    except yaml.MarkedYAMLError as error:
        log.at_line(*_syntax_error(error))
        return None
    except yaml.YAMLError as error:
        log.at_line(None, f"YAML syntax error: {error}")
        return None
    finally:
        if loader is not None:
            loader.dispose()
    for duplicate, line, first in duplicates:
        log.at_line(
            line,
            f"duplicate key {duplicate[-1]!r}: it is already set at line {first}, "
            "and YAML would silently keep only the last one",
            duplicate,
        )
    return document


def _syntax_error(error: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """The line and the message of a YAML syntax error."""
    mark = error.problem_mark or error.context_mark
    message = f"YAML syntax error, column {mark.column + 1}: " if mark else "YAML syntax error: "
    message += error.problem or error.context or "invalid YAML"
    if error.problem and error.context:
        # PyYAML's context says what it was reading when it failed ("while
        # scanning a quoted scalar"), often where the real mistake is.
        since = f" started at line {error.context_mark.line + 1}" if error.context_mark else ""
        message += f" ({error.context}{since})"
    return (mark.line + 1 if mark else None), message


def json_problems(value: object, path: DocPath) -> list[tuple[DocPath, str]]:
    """Values YAML can express but JSON cannot (dates, non-string keys, NaN):
    stored in a JSONField they would be refused or silently altered."""
    if value is None or isinstance(value, str | bool | int):
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(path, f"{value} is not a JSON number")]
    if isinstance(value, list):
        return [
            problem for index, item in enumerate(value) for problem in json_problems(item, (*path, index))
        ]
    if isinstance(value, dict):
        problems = []
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(((*path, str(key)), f"key {key!r} must be a string (quote it)"))
            else:
                problems.extend(json_problems(item, (*path, key)))
        return problems
    return [(path, f"{describe(value)} is not a JSON value (quote it to make it a string)")]


class OutsideFolder(Exception):
    """A path in a catalogue file that would read outside its folder; the
    message says why, following the file's name."""


def read_inside(folder: Path, relative: str) -> str:
    """The text of the regular file at ``relative`` under ``folder``.

    A catalogue file may come from anyone with a merge request, and the import
    runs with the service's rights: it must not read the service's own files.
    So the path may neither be absolute nor name ``..``, and no component of it
    may be a symbolic link, even one pointing inside (a link can be changed
    after review). Each component is opened relative to its parent with
    ``O_NOFOLLOW``, so a link swapped in after a check is refused too.
    """
    path = Path(relative)
    if path.is_absolute():
        raise OutsideFolder("must be a path relative to the catalogue file, not absolute")
    if ".." in path.parts:
        raise OutsideFolder("must stay inside the catalogue file's folder: '..' is not allowed")
    parts = [part for part in path.parts if part != "."]
    if not parts:
        raise OutsideFolder("is not a file")
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            shown = folder.joinpath(*parts[: index + 1])
            try:
                details = os.lstat(part, dir_fd=directory)
            except FileNotFoundError:
                raise OutsideFolder(f"does not exist (looked for {shown})") from None
            if stat.S_ISLNK(details.st_mode):
                raise OutsideFolder(f"goes through a symbolic link ({shown}): links are not followed")
            if not last:
                if not stat.S_ISDIR(details.st_mode):
                    raise OutsideFolder(f"does not exist (looked for {shown}, which is not a folder)")
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
                os.close(directory)
                directory = inner
                continue
            return _read_regular_file(directory, part, shown, details)
    finally:
        os.close(directory)
    raise AssertionError("unreachable: the loop returns or raises at the last part")


def _read_regular_file(directory: int, name: str, shown: Path, details: os.stat_result) -> str:
    """The text of the regular file ``name`` in the open folder ``directory``
    (``details``: what ``lstat`` said of it)."""
    if not stat.S_ISREG(details.st_mode):
        raise OutsideFolder(f"is not a file (looked for {shown})")
    # O_NONBLOCK: should a FIFO replace the file after lstat, opening
    # it must not wait for a writer; fstat then refuses it.
    handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
    with os.fdopen(handle, "rb") as file:
        opened = os.fstat(file.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise OutsideFolder(f"is not a file (looked for {shown})")
        if opened.st_size > MAX_PLAYBOOK_BYTES:
            raise OutsideFolder(f"is larger than {MAX_PLAYBOOK_BYTES // 1024} KiB")
        data = file.read(MAX_PLAYBOOK_BYTES + 1)
    if len(data) > MAX_PLAYBOOK_BYTES:
        raise OutsideFolder(f"is larger than {MAX_PLAYBOOK_BYTES // 1024} KiB")
    return data.decode("utf-8")
