"""How run output is shown: Ansible's colours, escaping, failures, plain text."""

from __future__ import annotations

from dataclasses import dataclass

from portal.web.runlog import ansi_to_html, event_html, plain_text, render_events, strip_ansi


@dataclass
class Event:
    counter: int
    stdout: str
    failed: bool = False


def test_ansi_colours_become_classes_and_reset_ends_them():
    html = ansi_to_html("\x1b[0;32mok: [web]\x1b[0m then \x1b[1;31mfatal\x1b[0m plain")
    assert html == (
        '<span class="ansi-fg-2">ok: [web]</span> then <span class="ansi-bold ansi-fg-1">fatal</span> plain'
    )


def test_bright_background_and_extended_colours():
    assert ansi_to_html("\x1b[93;44mx\x1b[39;49m y") == '<span class="ansi-bg-4 ansi-fg-11">x</span> y'
    assert ansi_to_html("\x1b[38;5;208mamber\x1b[0m") == "amber"  # no class for 256 colours: plain text
    assert ansi_to_html("\x1b[38;2;1;2;3;1mrgb\x1b[0m") == '<span class="ansi-bold">rgb</span>'


def test_other_escape_sequences_and_control_characters_are_dropped():
    text = "a\x1b[2Kb\x1b]0;title\x07c\x1b[1Ad\x07e\x1b[f"
    assert ansi_to_html(text) == "abcde"
    assert strip_ansi("\x1b[0;33mchanged\x1b[0m\x1b[2K: [x]") == "changed: [x]"


def test_text_is_escaped_before_any_markup():
    html = event_html('ok: [web] => {"msg": "<script>alert(1)</script>"}')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert (
        ansi_to_html("\x1b[31m<b onclick=x>\x1b[0m") == '<span class="ansi-fg-1">&lt;b onclick=x&gt;</span>'
    )


def test_plain_ansible_output_is_coloured_by_what_each_line_says():
    html = event_html(
        "\nTASK [Install] ****\nchanged: [web]\nskipping: [db]\nfatal: [app]: FAILED!\n  detail"
    )
    assert html.split("\n") == [
        '<span class="log-head">TASK [Install] ****</span>',
        '<span class="log-changed">changed: [web]</span>',
        '<span class="log-skip">skipping: [db]</span>',
        '<span class="log-err">fatal: [app]: FAILED!</span>',
        "  detail",
    ]


def test_events_without_output_are_skipped_and_failures_are_said_in_words():
    html = render_events([Event(1, ""), Event(2, "ok: [a]"), Event(3, "fatal: [b]: FAILED!", failed=True)])
    assert 'data-counter="1"' not in html
    assert '<div class="ev" data-counter="2">' in html
    assert '<div class="ev ev-failed" data-counter="3"><span class="visually-hidden">Failed: </span>' in html


def test_plain_text_is_the_output_without_colours():
    events = [Event(1, "\x1b[32mok\x1b[0m\r\n"), Event(2, "  "), Event(3, "\nPLAY RECAP\n")]
    assert "".join(plain_text(events)) == "ok\nPLAY RECAP\n"
