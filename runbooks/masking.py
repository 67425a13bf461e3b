"""Keeping secret values out of everything a run stores or logs.

A :class:`Masker` knows the secret values of one run (credential secrets,
inputs marked ``x-secret``, anything else the caller names) and replaces them
with :data:`MASK` in text and, deeply, in JSON-like data: event output, event
data, failure messages, log lines.

Besides the raw value it masks the forms in which Ansible output commonly
shows it: JSON-escaped (a password with a quote or a backslash inside a
``"msg": ...``), YAML-quoted (a line of a vars file quoted in an error),
Python-escaped (``repr`` in tracebacks), with ``\\r\\n`` line
ends (the pseudo-terminal ansible-runner reads through translates ``\\n``),
base64-encoded, and each long line of a multi-line secret (an SSH key printed
in part).

Values shorter than :data:`MIN_MASKED_LENGTH` are *not* masked: replacing
every ``1`` or ``ok`` in the output would destroy it while protecting nothing
(a one- or two-character secret is guessable anyway). The caller is told about
them (``Masker.too_short``) so it can log that such a value exists, never the
value itself.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

MASK = "********"

#: Shortest secret value that is masked (see the module docstring).
MIN_MASKED_LENGTH = 3

#: Lines of a multi-line secret are masked one by one from this length on, so
#: that a partly printed key is still hidden but a line like ``-----`` or
#: ``}`` does not blank out unrelated output.
MIN_MASKED_LINE_LENGTH = 16


def _variants(secret: str) -> set[str]:
    """The forms in which ``secret`` can appear in Ansible's output."""
    escaped = json.dumps(secret)[1:-1]
    forms = {
        secret,
        escaped,
        # The same escapes with upper-case hex, as YAML writes them.
        re.sub(r"\\u([0-9a-f]{4})", lambda match: "\\u" + match[1].upper(), escaped),
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        secret.replace("\n", "\r\n"),
        # YAML's quoted forms (the extra-vars file quotes every input, and
        # Ansible quotes the offending line when it cannot read a file).
        secret.replace("'", "''"),
    }
    for unicode in (True, False):
        with contextlib.suppress(yaml.YAMLError):
            dumped = yaml.safe_dump(secret, default_style='"', width=2**31 - 1, allow_unicode=unicode)
            forms.add(dumped.strip()[1:-1])
    with contextlib.suppress(UnicodeEncodeError):  # lone surrogates cannot be printed either
        forms.add(base64.b64encode(secret.encode()).decode())
    if "\n" in secret:
        forms.update(
            line.strip() for line in secret.splitlines() if len(line.strip()) >= MIN_MASKED_LINE_LENGTH
        )
    return {form for form in forms if len(form) >= MIN_MASKED_LENGTH}


def secret_leaves(value: Any) -> list[str]:
    """Every scalar inside ``value`` as text (a secret input may be a number,
    a list of tokens or an object of them). Booleans and ``None`` carry no
    secret."""
    if isinstance(value, Mapping):
        return [leaf for item in value.values() for leaf in secret_leaves(item)]
    if isinstance(value, list | tuple | set):
        return [leaf for item in value for leaf in secret_leaves(item)]
    if value is None or isinstance(value, bool):
        return []
    return [str(value)]


class Masker:
    """Replaces a fixed set of secret values with :data:`MASK`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        #: How many non-empty secret values were too short to be masked.
        self.too_short = 0
        for secret in secrets:
            if not secret:
                continue
            if len(secret) < MIN_MASKED_LENGTH:
                self.too_short += 1
                continue
            forms |= _variants(secret)
        # Longest first so that a secret containing another is masked whole.
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(MASK, value)

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with secrets masked in every string,
        dictionary keys included."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                (self.text(key) if isinstance(key, str) else key): self.data(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def mask_inputs(*, inputs: Mapping[str, Any], secret_names: Iterable[str]) -> dict[str, Any]:
    """The inputs as they may be shown and stored: the value of every key
    named in ``secret_names`` (at any depth, so nested objects work too) is
    replaced with :data:`MASK`, and the secret values are masked wherever
    else they appear (a secret pasted into a free-text field)."""
    names = set(secret_names)
    secrets: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key in names:
                    secrets.extend(secret_leaves(item))
                else:
                    collect(item)
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item)

    def replace(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                key: (MASK if key in names and item not in (None, "") else replace(item))
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [replace(item) for item in value]
        return value

    collect(inputs)
    return Masker(secrets).data(replace(inputs))
