"""Parts of what a playbook reports with ``set_stats`` that more than one
reader takes: links (an instance's, an order's result). Each reader says
what it ignored, for the run's log."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

#: Links a report may carry; the rest are ignored, and said so.
MAX_LINKS = 20
MAX_TITLE_LENGTH = 200
MAX_URL_LENGTH = 2000


def read_links(value: object, ignored: list[str]) -> list[dict[str, str]] | None:
    """The valid ``{title, url}`` links of ``value``, in their order; what is
    wrong with the others is appended to ``ignored``. None when ``value`` is
    no list at all."""
    if not isinstance(value, list):
        ignored.append("The links must be a list of {title, url}; they were ignored.")
        return None
    links: list[dict[str, str]] = []
    refused = 0
    for index, link in enumerate(value):
        if len(links) >= MAX_LINKS:
            ignored.append(f"More than {MAX_LINKS} links: the rest were ignored.")
            break
        problem = _link_problem(link)
        if problem:
            refused += 1
            # Each said, up to a few: a playbook's list of a million bad
            # links must not become a million lines of the run's log.
            if refused <= MAX_LINKS:
                ignored.append(f"Link {index + 1} ignored: {problem}.")
            continue
        assert isinstance(link, Mapping)
        links.append({"title": link["title"].strip(), "url": link["url"].strip()})
    if refused > MAX_LINKS:
        ignored.append(f"{refused - MAX_LINKS:,} more bad links ignored, not listed.")
    return links


def _link_problem(link: object) -> str | None:
    if (
        not isinstance(link, Mapping)
        or not isinstance(link.get("title"), str)
        or not isinstance(link.get("url"), str)
    ):
        return "a link is a mapping of a title and a url, both text"
    if not link["title"].strip() or len(link["title"]) > MAX_TITLE_LENGTH:
        return f"its title must have 1 to {MAX_TITLE_LENGTH} characters"
    url = link["url"].strip()
    # Only web addresses: a javascript: or data: URL would run in the page.
    parts = urlsplit(url) if len(url) <= MAX_URL_LENGTH else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return "its url must be an http(s) address of at most 2,000 characters"
    return None
