"""Loading YAML that squads write (playbooks, catalogue files) so that a small
file can never become a huge or endless structure.

YAML anchors and aliases let a few hundred bytes stand for billions of values
(the "billion laughs") or for a structure that contains itself, which any walk
over the loaded data then follows forever. So the loaders here refuse every
anchor and alias while the document is composed, before anything is expanded,
and they refuse a document with more nodes, or nested deeper, than a budget:
whatever walks the result afterwards walks a bounded tree.

Two loaders with the same rules: ``BoundedSafeLoader`` (pure Python: it checks
each node as PyYAML composes it) and, where PyYAML was built with libyaml,
``BoundedCSafeLoader`` (libyaml composes in C, out of reach of a Python hook,
so the events are checked in a first pass over the text, before libyaml
composes anything). ``load`` picks the faster one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

#: Nodes (scalars, lists, mappings, keys included) a document may hold. A
#: playbook of a few hundred tasks has a few thousand.
MAX_NODES = 50_000
#: How deeply lists and mappings may nest. Playbooks and catalogue files
#: need a dozen levels; this also keeps PyYAML's recursive composer, and any
#: recursive walk over the result, far from Python's recursion limit.
MAX_DEPTH = 64


class YAMLRefused(yaml.MarkedYAMLError):
    """A document refused for its shape rather than its syntax: it uses an
    anchor or an alias, or it is too large or too deep. ``problem`` says which,
    with the line; ``reason`` is ``"alias"``, ``"size"`` or ``"depth"``."""

    def __init__(self, reason: str, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.reason = reason


def _line(mark: Any) -> int:
    return mark.line + 1


def refuse_alias(event: NodeEvent) -> YAMLRefused:
    """The refusal of an anchor (``&name``) or an alias (``*name``)."""
    sign = "*" if isinstance(event, AliasEvent) else "&"
    return YAMLRefused(
        "alias",
        f"YAML anchors and aliases are not accepted ({sign}{event.anchor} at line "
        f"{_line(event.start_mark)}): write the value out in full",
        event.start_mark,
    )


class _Limits:
    """The budget of one document, counted as its nodes are met."""

    def __init__(self, max_nodes: int, max_depth: int) -> None:
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.nodes = 0
        self.depth = 0

    def enter(self, event: NodeEvent) -> None:
        """Count a node; raise when it is an anchor or alias, or one too many."""
        if isinstance(event, AliasEvent) or event.anchor is not None:
            raise refuse_alias(event)
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise YAMLRefused(
                "size",
                f"the document is too large: more than {self.max_nodes} values "
                f"(reached at line {_line(event.start_mark)})",
                event.start_mark,
            )

    def open(self, event: NodeEvent) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise YAMLRefused(
                "depth",
                f"lists and mappings are nested too deep: more than {self.max_depth} levels "
                f"(at line {_line(event.start_mark)})",
                event.start_mark,
            )

    def close(self) -> None:
        self.depth -= 1


class BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases and documents beyond
    the budget as it composes each node."""

    max_nodes: ClassVar[int] = MAX_NODES
    max_depth: ClassVar[int] = MAX_DEPTH

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._limits = _Limits(self.max_nodes, self.max_depth)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        self._limits.enter(event)
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self._limits.open(event)
        try:
            return super().compose_node(parent, index)
        finally:
            self._limits.close()


def check_events(loader: Any, *, max_nodes: int, max_depth: int) -> None:
    """Read every event ``loader`` parses and raise ``YAMLRefused`` at the
    first anchor, alias or node beyond the budget. Parsing is flat (no
    recursion, nothing kept), so this is safe on any input."""
    limits = _Limits(max_nodes, max_depth)
    while _next_event_exists(loader, max_depth):
        event = loader.get_event()
        if isinstance(event, NodeEvent):
            limits.enter(event)
            if isinstance(event, CollectionStartEvent):
                limits.open(event)
        elif isinstance(event, CollectionEndEvent):
            limits.close()


def _next_event_exists(loader: Any, max_depth: int) -> bool:
    """``loader.check_event()``, with libyaml's own nesting limit (0.2.5 and
    later stop at 1,000 levels, before our budget can count them) refused as
    our depth limit is, so a caller meets one refusal whichever parser runs."""
    try:
        return bool(loader.check_event())
    except yaml.MarkedYAMLError as error:
        if "maximum nesting depth" not in (error.problem or ""):
            raise
        mark = error.problem_mark
        raise YAMLRefused(
            "depth",
            f"lists and mappings are nested too deep: more than {max_depth} levels (at line {_line(mark)})",
            mark,
        ) from None


if yaml.__with_libyaml__:

    class BoundedCSafeLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """libyaml's safe loader with the same refusals as ``BoundedSafeLoader``:
        the text is parsed once to check its events, and composed only if they
        pass."""

        max_nodes: ClassVar[int] = MAX_NODES
        max_depth: ClassVar[int] = MAX_DEPTH

        def __init__(self, stream: str | bytes) -> None:
            super().__init__(stream)
            self._text = stream
            self._checked = False

        def _check(self) -> None:
            if self._checked:
                return
            scanner = yaml.CSafeLoader(self._text)  # type: ignore[attr-defined]
            try:
                check_events(scanner, max_nodes=self.max_nodes, max_depth=self.max_depth)
            finally:
                scanner.dispose()
            self._checked = True

        def get_single_node(self) -> yaml.Node | None:
            self._check()
            return super().get_single_node()

        def get_node(self) -> yaml.Node | None:
            self._check()
            return super().get_node()

    FastestLoader: type[yaml.SafeLoader] = BoundedCSafeLoader  # type: ignore[assignment]
else:  # pragma: no cover - PyYAML without libyaml
    FastestLoader = BoundedSafeLoader


def bounded_loader(
    *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH, fast: bool = True
) -> type[yaml.SafeLoader]:
    """A loader class with this budget (libyaml's when ``fast`` and built in)."""
    base = FastestLoader if fast else BoundedSafeLoader
    if (max_nodes, max_depth) == (base.max_nodes, base.max_depth):  # type: ignore[attr-defined]
        return base
    return type(base.__name__, (base,), {"max_nodes": max_nodes, "max_depth": max_depth})


def load(text: str, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """The single document in ``text``, as ``yaml.safe_load`` would give it,
    or ``YAMLRefused`` (anchors, aliases, too large, too deep) or another
    ``yaml.YAMLError`` (syntax)."""
    loader = bounded_loader(max_nodes=max_nodes, max_depth=max_depth)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
