"""What an order's run means to its requester: the result the runbook
reported for them (``set_stats`` ``squadron.result``), or which step failed
and whether running it again can help.

A runbook reports its result as one sentence or more (Markdown, rendered
sanitized) with optional links::

    - ansible.builtin.set_stats:
        data:
          squadron:
            result:
              summary: "VLAN {{ vlan_id }} is configured on 2 access switches of {{ site }}."
              links: [{title: Switch report, url: "https://net.example.com/vlans/{{ vlan_id }}"}]

``result: "VLAN 120 is configured."`` is the same with no links. The text
is taken from the run's masked copy of the report, so a secret the run knew
(an input, a credential) never reaches the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runbooks.choices import FailureKind
from runbooks.crypto import DecryptionError
from runbooks.models import Run
from runbooks.reported import read_links
from runbooks.services import Reported, run_notes_append, run_reported

MAX_SUMMARY_LENGTH = 2000

#: Failures a retry with the same inputs meets again.
FINAL_FAILURE_KINDS = frozenset({FailureKind.REFUSED, FailureKind.INPUTS})


@dataclass
class Outcome:
    result: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def read_result(reported: Reported) -> Outcome:
    """The ``squadron.result`` of a run's report, as the order keeps it."""
    outcome = Outcome()
    data, masked = reported.data, reported.masked
    if not isinstance(data, Mapping) or not isinstance(data.get("squadron"), Mapping):
        return outcome
    if "result" not in data["squadron"]:
        return outcome
    shown: object = _result_of(masked) if _result_of(masked) is not None else data["squadron"]["result"]
    if isinstance(shown, str):
        shown = {"summary": shown}
    if not isinstance(shown, Mapping):
        outcome.ignored.append('squadron.result must be a sentence or a mapping of "summary" and "links".')
        return outcome
    summary = shown.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        outcome.ignored.append("squadron.result needs a summary (text); the result was ignored.")
        return outcome
    if len(summary) > MAX_SUMMARY_LENGTH:
        outcome.ignored.append(f"The result's summary was cut to {MAX_SUMMARY_LENGTH:,} characters.")
        summary = summary[:MAX_SUMMARY_LENGTH] + "…"
    outcome.result = {"summary": summary.strip()}
    if "links" in shown:
        outcome.result["links"] = read_links(shown.get("links"), outcome.ignored) or []
    unknown = sorted(str(key) for key in shown if key not in ("summary", "links"))
    if unknown:
        outcome.ignored.append(f"Unknown key(s) of squadron.result ignored: {', '.join(unknown)}.")
    return outcome


def _result_of(masked: object) -> object:
    """``squadron.result`` of the masked copy (None for a run without one)."""
    if not isinstance(masked, Mapping) or not isinstance(masked.get("squadron"), Mapping):
        return None
    return masked["squadron"].get("result")


def run_outcome_fields(run: Run) -> dict[str, Any]:
    """The order's outcome columns after ``run`` ended; what of the report
    had to be left out is said at the end of the run's log."""
    fields: dict[str, Any] = {"failed_step": run.failed_task, "failure_kind": run.failure_kind, "result": {}}
    try:
        outcome = read_result(run_reported(run))
    except DecryptionError:
        return fields
    run_notes_append(run_id=run.pk, lines=outcome.ignored)
    fields["result"] = outcome.result
    return fields
