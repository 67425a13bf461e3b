"""Markdown written by squads, rendered for business users.

Product descriptions are written by squad members, not by the platform team,
so the HTML is sanitized with nh3 (an allow-list): no script, no style, no
event-handler attributes, no ``javascript:`` links survive.

The text is parsed by markdown-it-py (CommonMark, with GitHub's tables and
strikethrough), whose parser is linear in the length of the text: one squad's
description or one requester's comment cannot make a page that others use
slow to render (Python-Markdown spent 17 s on ten thousand ``[``).
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "dl",
    "dt",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "s",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}


def _alignment_as_attribute(state: StateCore) -> None:
    # A table's column alignment comes as a style, which the sanitizer drops
    # (no style survives); the align attribute says the same and is kept.
    for token in state.tokens:
        style = token.attrs.get("style") if token.type in ("th_open", "td_open") else None
        if isinstance(style, str) and style.startswith("text-align:"):
            del token.attrs["style"]
            token.attrs["align"] = style.removeprefix("text-align:")


# Raw HTML is passed on to the sanitizer, which keeps what ALLOWED_TAGS names.
_parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_parser.core.ruler.push("alignment_as_attribute", _alignment_as_attribute)
# A link to a refused scheme stays a link whose address the sanitizer drops
# (its words are shown, not the ``javascript:`` source): nh3's url_schemes is
# the one gate for addresses, as for those written in raw HTML.
_parser.validateLink = lambda url: True  # type: ignore[method-assign]


def render_markdown(text: str) -> str:
    return nh3.clean(
        _parser.render(text or ""),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
