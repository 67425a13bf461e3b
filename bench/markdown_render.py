"""Markdown benchmark: what a hostile description or comment costs a page.

    .venv/bin/python bench/markdown_render.py [--size 10000] [--repeat 5]

Renders, through ``catalogue.markdown.render_markdown`` (parse and
sanitize, as every page does), texts of ``--size`` characters built to
make a Markdown parser backtrack (open brackets, link and image openers,
emphasis runs, nested quotes, deep lists, a long table) beside an ordinary
description of the same length, and prints the median and the worst of
``--repeat`` renders of each. 10,000 characters is the longest comment
(``portal.orders.conversation.MAX_BODY``). Target: every text under 250 ms,
so that no squad's description or requester's comment slows a page others
use.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def texts(size: int) -> dict[str, str]:
    def repeat(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    ordinary = repeat("A **VLAN** on the [access switches](https://wiki.example.org/vlan) of one site.\n\n")
    return {
        "ordinary description": ordinary,
        "open brackets [": repeat("["),
        "bracket and letter [x": repeat("[x"),
        "link openers [](": repeat("[]("),
        "image openers ![": repeat("!["),
        "emphasis runs *a": repeat("*a"),
        "underscores then stars": repeat("_") + repeat("*"),
        "nested quotes >": repeat(">"),
        "deep list": "".join("  " * depth + "- a\n" for depth in range(size // 100)),
        "long table": "| a | b |\n|:-|-:|\n" + repeat("| x | y |\n"),
        "angle brackets <": repeat("<"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()

    import django

    django.setup()
    from catalogue.markdown import render_markdown

    print(f"Python {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"{'text':<26} {'chars':>8} {'median ms':>10} {'worst ms':>9}")
    for name, text in texts(arguments.size).items():
        timings = []
        for _ in range(arguments.repeat):
            started = time.perf_counter()
            render_markdown(text)
            timings.append((time.perf_counter() - started) * 1000)
        print(f"{name:<26} {len(text):>8} {statistics.median(timings):>10.1f} {max(timings):>9.1f}")


if __name__ == "__main__":
    main()
