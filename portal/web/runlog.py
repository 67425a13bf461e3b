"""The run log as people read it on the order page.

Ansible's own colours are rebuilt from what each line says ("ok:", "changed:",
"fatal:"…) because the executor stores output without colour codes; any ANSI
colour that does reach the database (another executor, a tool's own output)
is rendered as CSS classes, never inline styles, so the page keeps its strict
Content-Security-Policy. Every other escape sequence is dropped. Text is
escaped before any markup is added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Protocol

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Events of the latest run shown when the page opens; earlier ones load on demand.
TAIL_EVENTS = 400
#: Events one click on "Show earlier output" adds above.
EARLIER_EVENTS = 1000
#: Most new events one live poll sends; the next poll takes the rest.
POLL_EVENTS = 1000

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
# Any other escape sequence: CSI (cursor moves, erase), OSC (titles,
# hyperlinks) and lone two-character escapes.
_OTHER_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-ln-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_BUT_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")

#: A line's look from how Ansible starts it (what its colours would say).
_LINE_KINDS = (
    ("fatal:", "err"),
    ("failed:", "err"),
    ("ERROR!", "err"),
    ("[ERROR]", "err"),
    ("unreachable:", "err"),
    ("changed:", "changed"),
    ("ok:", "ok"),
    ("skipping:", "skip"),
    ("included:", "skip"),
    ("[WARNING]", "warn"),
    ("[DEPRECATION WARNING]", "warn"),
    ("TASK [", "head"),
    ("PLAY [", "head"),
    ("PLAY RECAP", "head"),
    ("RUNNING HANDLER [", "head"),
)


class LogEvent(Protocol):
    counter: int
    stdout: str
    failed: bool


def strip_ansi(text: str) -> str:
    return _CONTROL.sub("", _OTHER_ESCAPES.sub("", _SGR.sub("", text)))


def _classes_for(codes: list[int], state: dict[str, str]) -> None:
    """Update the SGR ``state`` (fg, bg, bold, dim, underline) with ``codes``."""
    index = 0
    while index < len(codes):
        code = codes[index]
        if code == 0:
            state.clear()
        elif code == 1:
            state["bold"] = "ansi-bold"
        elif code == 2:
            state["dim"] = "ansi-dim"
        elif code == 4:
            state["underline"] = "ansi-underline"
        elif code == 22:
            state.pop("bold", None)
            state.pop("dim", None)
        elif code == 24:
            state.pop("underline", None)
        elif 30 <= code <= 37:
            state["fg"] = f"ansi-fg-{code - 30}"
        elif 90 <= code <= 97:
            state["fg"] = f"ansi-fg-{code - 90 + 8}"
        elif code == 39:
            state.pop("fg", None)
        elif 40 <= code <= 47:
            state["bg"] = f"ansi-bg-{code - 40}"
        elif 100 <= code <= 107:
            state["bg"] = f"ansi-bg-{code - 100 + 8}"
        elif code == 49:
            state.pop("bg", None)
        elif code in (38, 48) and index + 1 < len(codes):
            # 256-colour and true-colour forms: no class for them, skip their arguments.
            index += 2 if codes[index + 1] == 5 else 4
        index += 1


def ansi_to_html(text: str) -> str:
    """Escaped text with ANSI SGR colours as ``<span class="ansi-…">``."""
    text = _CONTROL_BUT_ESCAPE.sub("", _OTHER_ESCAPES.sub("", text))
    parts: list[str] = []
    state: dict[str, str] = {}
    position = 0
    for match in _SGR.finditer(text):
        _append(parts, text[position : match.start()], state)
        codes = [int(code) for code in match.group(1).split(";") if code.isdigit()] or [0]
        _classes_for(codes, state)
        position = match.end()
    _append(parts, text[position:], state)
    return "".join(parts)


def _append(parts: list[str], chunk: str, state: dict[str, str]) -> None:
    chunk = chunk.replace("\x1b", "")  # an escape sequence cut short by truncation
    if not chunk:
        return
    if state:
        classes = " ".join(state[key] for key in sorted(state))
        parts.append(f'<span class="{classes}">{escape(chunk)}</span>')
    else:
        parts.append(escape(chunk))


def _plain_to_html(text: str) -> str:
    """Escaped text with each line marked the way Ansible would colour it."""
    text = text.replace("\r", "")
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        kind = next((kind for prefix, kind in _LINE_KINDS if stripped.startswith(prefix)), None)
        lines.append(f'<span class="log-{kind}">{escape(line)}</span>' if kind else escape(line))
    return "\n".join(lines)


def event_html(stdout: str) -> str:
    text = stdout.strip("\n")
    if "\x1b" in text:
        return ansi_to_html(text)
    return _plain_to_html(_CONTROL.sub("", text))


def render_events(events: Iterable[LogEvent]) -> SafeString:
    """The HTML of a run of log events. Events without output (Ansible emits
    many) are skipped; a failed one is marked in words too, not only in red."""
    out: list[str] = []
    for event in events:
        if not event.stdout or not event.stdout.strip():
            continue
        if event.failed:
            out.append(
                f'<div class="ev ev-failed" data-counter="{event.counter}">'
                f'<span class="visually-hidden">Failed: </span>{event_html(event.stdout)}</div>'
            )
        else:
            out.append(f'<div class="ev" data-counter="{event.counter}">{event_html(event.stdout)}</div>')
    return mark_safe("".join(out))  # noqa: S308 - every piece of text above is escaped


def plain_text(events: Iterable[LogEvent]) -> Iterator[str]:
    """The log as plain text (for the download), one event's output after another."""
    for event in events:
        if event.stdout and event.stdout.strip():
            yield strip_ansi(event.stdout.strip("\n").replace("\r", "")) + "\n"
