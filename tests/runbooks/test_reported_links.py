"""Links a playbook reports (an instance's, an order's result): the good
ones kept in order, each bad one said, and a flood of bad ones said in a
bounded number of lines."""

from __future__ import annotations

from runbooks.reported import MAX_LINKS, read_links

GOOD = {"title": "Console", "url": "https://console.example.com/db/1"}


def test_good_links_are_kept_and_each_bad_one_is_said() -> None:
    ignored: list[str] = []
    links = read_links([GOOD, {"title": "x", "url": "javascript:alert(1)"}, "nope"], ignored)
    assert links == [GOOD]
    assert ignored == [
        "Link 2 ignored: its url must be an http(s) address of at most 2,000 characters.",
        "Link 3 ignored: a link is a mapping of a title and a url, both text.",
    ]


def test_a_flood_of_bad_links_is_said_in_a_bounded_number_of_lines() -> None:
    ignored: list[str] = []
    links = read_links([{"title": "x", "url": "ftp://x"}] * 100_000 + [GOOD], ignored)
    assert links == [GOOD]
    assert len(ignored) == MAX_LINKS + 1
    assert ignored[-1] == f"{100_000 - MAX_LINKS:,} more bad links ignored, not listed."


def test_past_the_limit_of_good_links_the_rest_are_ignored_and_said_once() -> None:
    ignored: list[str] = []
    assert read_links([GOOD] * (MAX_LINKS + 5), ignored) == [GOOD] * MAX_LINKS
    assert ignored == [f"More than {MAX_LINKS} links: the rest were ignored."]
