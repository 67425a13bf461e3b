"""Markdown written by squads, as business users see it: the formatting a
description needs survives, anything that could run or restyle the page
does not."""

from __future__ import annotations

from catalogue.markdown import render_markdown


def test_tables_keep_their_alignment_as_an_attribute_the_sanitizer_keeps() -> None:
    html = render_markdown("| Tier | Replicas |\n|:-----|---------:|\n| prod | 3 |\n")

    assert '<th align="left">Tier</th>' in html and '<td align="right">3</td>' in html
    assert "style" not in html


def test_the_formatting_a_description_needs_survives() -> None:
    html = render_markdown(
        "## Before you order\n\n**Bold**, *em*, ~~gone~~, `code`, <kbd>Ctrl</kbd> and "
        "[the wiki](https://wiki.example.org/vlan).\n\n1. one\n2. two\n\n```yaml\nvlan: 120\n```\n"
    )

    for kept in (
        "<h2>Before you order</h2>",
        "<strong>Bold</strong>",
        "<em>em</em>",
        "<s>gone</s>",
        "<code>code</code>",
        "<kbd>Ctrl</kbd>",
        '<a href="https://wiki.example.org/vlan" rel="noopener noreferrer nofollow">the wiki</a>',
        "<ol>\n<li>one</li>",
        "<pre><code>vlan: 120\n</code></pre>",
    ):
        assert kept in html


def test_scripts_styles_handlers_and_script_links_do_not_survive() -> None:
    html = render_markdown(
        'Hi <img src=x onerror="alert(1)"> <span style="position:fixed">x</span> '
        '[click](javascript:alert(3)) <a href="javascript:alert(4)">y</a>\n\n<script>alert(5)</script>\n'
    )

    for gone in ("<img", "onerror", "style=", "javascript:", "<script", "alert(5)"):
        assert gone not in html


def test_a_text_built_to_make_the_parser_backtrack_renders_as_text() -> None:
    """Ten thousand open brackets took Python-Markdown 16 s (bench/markdown_render.py
    measures each such text); here they are just brackets."""
    assert render_markdown("[" * 10_000) == f"<p>{'[' * 10_000}</p>\n"
    assert render_markdown("![" * 5_000).count("![") == 5_000
