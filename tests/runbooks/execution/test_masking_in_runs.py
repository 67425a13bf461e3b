"""Real runs that show a secret input reshaped (folded by YAML, escaped by
JSON, cut in two by the playbook) store it nowhere, not even in part."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from runbooks.choices import RunStatus
from runbooks.execution.masking import MASK, MIN_MASKED_LENGTH, mask_inputs
from runbooks.execution.run import execute_run
from runbooks.models import Run, RunEvent
from tests.runbooks import make_run

pytestmark = pytest.mark.django_db

# Long enough for YAML to fold it (spaces past the 80th column), with a
# quote, a backslash and an accent for JSON to escape.
SECRET = (
    'correct horse battery staple, the "quoted" bit, a back\\slash and an \u00e9 '
    "so that every filter has something to fold or escape"
)
HALVES = (SECRET[:10], SECRET[10:])


def run_showing_the_secret(playbook: str) -> Run:
    inputs = {"name": "db1", "secret": SECRET}
    run = make_run(playbook, masked_inputs=mask_inputs(inputs=inputs, secret_names={"secret"}))
    return execute_run(run_id=run.pk, inputs=inputs, secret_names={"secret"})


def leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, str):
        yield value


def squashed(text: str) -> str:
    """``text`` with escapes undone (as often as they were applied) and
    without whitespace: a folded or escaped secret reads whole again."""
    text = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda match: chr(int(match[1], 16)), text)
    text = re.sub(r"\\+[nrt]", " ", text)
    return re.sub(r"[\s\\]+", "", text)


def stored_texts(run: Run) -> list[str]:
    texts = [run.failure_reason, *leaves(run.masked_inputs)]
    for event in RunEvent.objects.filter(run=run):
        texts += [event.stdout, event.task, event.host, *leaves(event.event_data)]
    return texts


def assert_nothing_shows_the_secret(run: Run) -> None:
    assert all(len(half) > MIN_MASKED_LENGTH for half in HALVES)
    forms = {SECRET, *HALVES}
    leaks = [(form, text) for text in stored_texts(run) for form in forms if squashed(form) in squashed(text)]
    assert leaks == []


def shown(run: Run, task: str) -> RunEvent:
    return RunEvent.objects.get(run=run, task=task, event__in=("runner_on_ok", "runner_on_failed"))


def test_a_secret_folded_by_to_nice_yaml_is_masked_across_its_lines(dirs):
    run = run_showing_the_secret("secret_to_nice_yaml")

    assert run.status == RunStatus.FAILED
    assert_nothing_shows_the_secret(run)
    # The folded lines become one mask; the rest of the output keeps its shape.
    printed = shown(run, "Print the settings as YAML")
    assert printed.event_data["res"]["msg"] == f"passphrase: {MASK}\n"
    assert f'"msg": "passphrase: {MASK}\\n"' in printed.stdout
    assert run.failure_reason == f"task Refuse the settings on host localhost: passphrase: {MASK}\n"


def test_a_secret_escaped_by_to_nice_json_is_masked(dirs):
    run = run_showing_the_secret("secret_to_nice_json")

    assert run.status == RunStatus.FAILED
    assert_nothing_shows_the_secret(run)
    printed = shown(run, "Print the settings as JSON")
    assert printed.event_data["res"]["msg"] == f'{{\n    "token": "{MASK}"\n}}'
    # On the terminal the JSON is escaped once more, inside the debug message.
    assert f'\\"token\\": \\"{MASK}\\"' in printed.stdout
    assert run.failure_reason.endswith(f'"token": "{MASK}"\n}}')


def test_a_secret_cut_in_two_on_two_lines_is_masked_whole(dirs):
    run = run_showing_the_secret("secret_split_lines")

    assert run.status == RunStatus.FAILED
    assert_nothing_shows_the_secret(run)
    printed = shown(run, "Print the secret in two parts")
    assert printed.event_data["res"]["msg"] == MASK
    assert f'"msg": "{MASK}"' in printed.stdout
    assert run.failure_reason == f"task Refuse with the secret in two parts on host localhost: {MASK}"
