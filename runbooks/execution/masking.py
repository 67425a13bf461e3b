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

A secret is also found when the output has reshaped it: folded across lines
(``to_nice_yaml`` wraps a long passphrase at the 80th column and indents the
rest), escaped once or several times (``to_nice_json`` writes ``\\"``,
``\\\\`` and ``\\u00e9``, and a debug message escapes them again), or cut by
the playbook into parts on separate lines. Between the characters of the
secret, whitespace, backslashes and the escapes of whitespace are ignored,
and each character may be written as an escape; the whole span that carries
the secret, across its lines, becomes one :data:`MASK` and the output around
it keeps its shape. A secret whose text without whitespace is longer than
:data:`MAX_FOLDED_LENGTH` (a key, a certificate) is matched only in the forms
above. Two outputs that follow each other (events made of consecutive lines)
can be masked as one text with :meth:`Masker.across`.

All forms are searched at once with RE2, whose time is linear in the length
of the output whatever the secrets or the output hold (output can be
megabytes, and a playbook chooses what it prints).

Values shorter than :data:`MIN_MASKED_LENGTH` are *not* masked: replacing
every ``1`` or ``ok`` in the output would destroy it while protecting nothing
(a one- or two-character secret is guessable anyway). The caller is told about
them (``Masker.too_short``) so it can log that such a value exists, never the
value itself.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import re2
import yaml

MASK = "********"

#: Shortest secret value that is masked (see the module docstring).
MIN_MASKED_LENGTH = 3

#: Lines of a multi-line secret are masked one by one from this length on, so
#: that a partly printed key is still hidden but a line like ``-----`` or
#: ``}`` does not blank out unrelated output.
MIN_MASKED_LINE_LENGTH = 16


#: The whitespace that writers fold lines and indent with. It is never part
#: of a secret's folded form; other whitespace (a no-break space) stays a
#: character of the secret, which YAML may escape (``\_``).
FOLDING_WHITESPACE = " \t\n\r\v\f"

#: What may lie between two characters of a folded or escaped secret:
#: whitespace (the fold, the indentation), backslashes (escaping, once or
#: more, and YAML's escaped line break) and the escapes of whitespace
#: (``\n``, ``\t``...).
_GAP = r"(?:[ \t\n\r\v\f\\]|\\[nrtfv])*"

#: Longest folded form (see :func:`_folded_form`) matched across folds: the
#: pattern grows with it, and what is longer (keys, certificates) is
#: base64-like text that no writer folds or escapes, whose lines the exact
#: forms already mask one by one.
MAX_FOLDED_LENGTH = 1024

#: Memory RE2 may use for one masker's pattern and the automata it builds
#: while it searches (allocated as needed, not up front).
RE2_MAX_MEMORY = 128 << 20

#: Strings up to this length are searched only if they hold every character
#: that some form of a secret needs (``Masker._may_hold_a_secret``); for
#: longer ones the search costs about what that check would.
PREFILTER_LENGTH = 4096

#: Single-letter escapes of characters that are not folding whitespace.
_LETTER_ESCAPES = {
    "\0": "0",
    "\a": "a",
    "\b": "b",
    "\x1b": "e",
    # YAML's own, for whitespace beyond ASCII.
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}


def _folded_form(secret: str) -> str:
    """The characters of ``secret`` that survive folding and escaping: all
    but whitespace and backslashes (a backslash in the secret shows as a run
    of them, which the gaps of the pattern take)."""
    return "".join(char for char in secret if char not in FOLDING_WHITESPACE and char != "\\")


#: Printable ASCII that Jinja's ``tojson`` escapes (as ``\u003c``...).
_HTML_ESCAPED = "<>&'"


def _bare(char: str) -> bool:
    """Whether ``char`` is always written as it is: printable ASCII is, but
    for :data:`_HTML_ESCAPED` (a backslash before a quote or a slash is
    taken by the gaps). Keeping these bare keeps the pattern small."""
    return char.isascii() and char.isprintable() and char not in _HTML_ESCAPED


def _char_pattern(char: str) -> str:
    """RE2 pattern of one character of a secret as the output may write it:
    itself, or escaped by JSON, YAML or Python. The backslashes before an
    escaped quote or slash (``\\"``, ``\\/``) are taken by the gaps."""
    if _bare(char):
        return re2.escape(char)
    if char in _HTML_ESCAPED:
        # Jinja's ``tojson`` writes these as \u escapes, and YAML doubles a
        # quote inside quotes.
        return f"(?:{re2.escape(char)}|(?i:\\\\u{ord(char):04x}))" + ("'?" if char == "'" else "")
    forms = [re2.escape(char)]
    code = ord(char)
    if char in _LETTER_ESCAPES:
        forms.append("\\\\" + _LETTER_ESCAPES[char])
    if code < 0x100:
        forms.append(f"(?i:\\\\x{code:02x})")
    if code < 0x10000:
        forms.append(f"(?i:\\\\u{code:04x})")
    else:
        # JSON writes a character beyond the BMP as a surrogate pair.
        high, low = divmod(code - 0x10000, 0x400)
        forms.append(f"(?i:\\\\U{code:08x}|\\\\u{0xD800 + high:04x}\\\\+u{0xDC00 + low:04x})")
    return "(?:" + "|".join(forms) + ")"


def _folded_pattern(folded: str) -> str:
    """RE2 pattern of a secret's folded form (see :func:`_folded_form`) with
    any gap of folding and escaping between its characters."""
    return _GAP.join(map(_char_pattern, folded))


#: Characters RE2 cannot be given (it reads UTF-8).
_SURROGATE = re.compile("([\ud800-\udfff])")


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


def _longest_first(forms: Iterable[str]) -> list[str]:
    return sorted(forms, key=lambda form: (-len(form), form))


def _re2_options() -> re2.Options:
    options = re2.Options()
    # The patterns of several long secrets are large: with more memory RE2
    # stays on its fast DFA instead of falling back to its NFA (linear too,
    # but slower), which it would otherwise also log on every search.
    options.max_mem = RE2_MAX_MEMORY
    options.log_errors = False
    return options


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
        folded: set[str] = set()
        #: How many non-empty secret values were too short to be masked.
        self.too_short = 0
        for secret in secrets:
            if not secret:
                continue
            if len(secret) < MIN_MASKED_LENGTH:
                self.too_short += 1
                continue
            forms |= _variants(secret)
            form = _folded_form(secret)
            if MIN_MASKED_LENGTH <= len(form) <= MAX_FOLDED_LENGTH and not _SURROGATE.search(form):
                folded.add(form)
        # RE2 reads UTF-8, which has no lone surrogate: the rare form that
        # holds one is left to Python's engine.
        broken = {form for form in forms if _SURROGATE.search(form)}
        # Longest first so that a secret containing another is masked whole,
        # and folded spans before exact forms, which could cut a folded
        # secret into pieces too short to be recognised.
        self._alternatives = [
            *map(_folded_pattern, _longest_first(folded)),
            *map(re2.escape, _longest_first(forms - broken)),
        ]
        self._broken = re.compile("|".join(map(re.escape, _longest_first(broken)))) if broken else None
        # The characters some match needs, whatever its shape: every one of
        # an exact form, and the printable ASCII of a folded one (never
        # escaped but for four, see _char_pattern). Most short strings (a
        # host, a task name, "ok") lack them and skip the search, whose fixed
        # cost is several times Python's. A set that holds another adds nothing.
        needed = {frozenset(form) for form in forms - broken} | {
            frozenset(char for char in form if _bare(char)) for form in folded
        }
        self._needed = [chars for chars in needed if not any(other < chars for other in needed)]
        self._any_needed = frozenset().union(*self._needed)
        self._fewest_needed = min(map(len, self._needed), default=0)

    @functools.cached_property
    def _pattern(self) -> re2._Regexp:
        """The secrets' forms, folded and exact, as one RE2 pattern, compiled
        when first needed (a masker may never see any output)."""
        return re2.compile("|".join(self._alternatives), _re2_options())

    def __bool__(self) -> bool:
        return bool(self._alternatives) or self._broken is not None

    def text(self, value: str) -> str:
        if not value:
            return value
        if self._alternatives and (len(value) > PREFILTER_LENGTH or self._may_hold_a_secret(value)):
            try:
                if self._pattern.search(value):  # most output holds no secret
                    value = self._pattern.sub(MASK, value)
            except UnicodeEncodeError:
                # A lone surrogate in the output (a broken "\udXXX" escape):
                # the pieces around each are masked alone.
                pieces = _SURROGATE.split(value)
                pieces[::2] = [self._pattern.sub(MASK, piece) for piece in pieces[::2]]
                value = "".join(pieces)
        if self._broken is not None:
            value = self._broken.sub(MASK, value)
        return value

    def across(self, previous: str, current: str) -> tuple[str, str]:
        """``previous`` and ``current`` masked, two outputs that follow each
        other as the lines of one text (ansible-runner makes one event of
        each line printed outside a task: a long warning wrapped by Ansible
        comes in several). A secret that starts in one and ends in the other
        is masked in both: each shows :data:`MASK` for its part."""
        joined = f"{previous}\n{current}"
        junction = len(previous)
        crossing = None
        if (
            self._alternatives
            and previous
            and current
            and (len(joined) > PREFILTER_LENGTH or self._may_hold_a_secret(joined))
        ):
            with contextlib.suppress(UnicodeEncodeError):  # no secret spans a lone surrogate
                for match in self._pattern.finditer(joined):
                    if match.start() > junction:
                        break
                    if match.end() > junction + 1:
                        crossing = match
                        break
        if crossing is None:
            return self.text(previous), self.text(current)
        return (
            self.text(previous[: crossing.start()]) + MASK,
            MASK + self.text(current[crossing.end() - junction - 1 :]),
        )

    def _may_hold_a_secret(self, value: str) -> bool:
        present = set(value)
        # The count first: one set operation rules out most strings.
        return len(present & self._any_needed) >= self._fewest_needed and any(
            map(present.issuperset, self._needed)
        )

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with secrets masked in every string,
        dictionary keys included."""
        if not self:
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
