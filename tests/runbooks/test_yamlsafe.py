"""The bounded YAML loaders: anchors, aliases, too many values and too deep
nesting are refused while the document is composed, by the pure-Python and
the libyaml loader alike; and the admin refuses such a playbook clearly."""

from __future__ import annotations

import pytest
import yaml
from django.core.exceptions import ValidationError

from runbooks import yamlsafe
from runbooks.forms import RunbookForm
from runbooks.models import RunbookVersion
from runbooks.playbooks import validate_playbook
from tests.deadline import deadline
from tests.factories import RunbookFactory

LOADERS = [pytest.param(False, id="python")]
if yaml.__with_libyaml__:
    LOADERS.append(pytest.param(True, id="libyaml"))

RECURSIVE = "- hosts: localhost\n  tasks:\n    - &task\n      debug: {msg: [*task]}\n"
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def load(text: str, fast: bool, **budget: int) -> object:
    loader = yamlsafe.bounded_loader(fast=fast, **budget)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@pytest.mark.parametrize("fast", LOADERS)
@pytest.mark.parametrize(
    ("text", "where"),
    [
        (RECURSIVE, "&task at line 3"),
        (LAUGHS, "&a at line 1"),
        ("base: &base {x: 1}\nother:\n  <<: *base\n", "&base at line 1"),
        ("a: *nowhere\n", "*nowhere at line 1"),
    ],
    ids=["recursive", "billion-laughs", "merge-key", "undefined-alias"],
)
def test_anchors_and_aliases_are_refused_naming_the_line(text: str, where: str, fast: bool) -> None:
    with deadline(5), pytest.raises(yamlsafe.YAMLRefused) as refused:
        load(text, fast)

    assert refused.value.reason == "alias"
    assert f"YAML anchors and aliases are not accepted ({where})" in refused.value.problem


@pytest.mark.parametrize("fast", LOADERS)
def test_too_many_values_are_refused(fast: bool) -> None:
    with pytest.raises(yamlsafe.YAMLRefused) as refused:
        load("[" + ", ".join(["1"] * 11) + "]", fast, max_nodes=10)

    assert refused.value.reason == "size"
    assert "more than 10 values" in refused.value.problem
    assert load("[" + ", ".join(["1"] * 9) + "]", fast, max_nodes=10) == [1] * 9


@pytest.mark.parametrize("fast", LOADERS)
def test_nesting_too_deep_is_refused_before_any_recursion_error(fast: bool) -> None:
    with pytest.raises(yamlsafe.YAMLRefused) as refused:
        load("x: " + "[" * 100_000 + "]" * 100_000, fast)

    assert refused.value.reason == "depth"
    assert load("x: " + "[" * 60 + "]" * 60, fast) is not None


@pytest.mark.parametrize("fast", LOADERS)
def test_ordinary_yaml_loads_as_safe_load_does(fast: bool) -> None:
    text = "- hosts: localhost\n  vars: {a: 1, b: [x, 'y'], c: null, d: 2026-03-18}\n  tasks: []\n"

    assert load(text, fast) == yaml.safe_load(text)


def test_syntax_errors_stay_syntax_errors() -> None:
    with pytest.raises(yaml.MarkedYAMLError) as error:
        yamlsafe.load("a: [\n")

    assert not isinstance(error.value, yamlsafe.YAMLRefused)


def test_a_playbook_with_an_alias_is_refused_with_the_line() -> None:
    with pytest.raises(ValidationError) as refused:
        validate_playbook(RECURSIVE)

    assert refused.value.messages == [
        "The playbook cannot be accepted: YAML anchors and aliases are not accepted "
        "(&task at line 3): write the value out in full."
    ]


@pytest.mark.django_db
def test_the_admin_form_refuses_an_aliased_playbook_and_stores_no_version(squad) -> None:
    runbook = RunbookFactory(squad=squad)
    before = list(RunbookVersion.objects.values_list("pk", "content"))
    form = RunbookForm(
        instance=runbook,
        data={
            "slug": runbook.slug,
            "name": runbook.name,
            "squad": squad.pk,
            "timeout": 60,
            "playbook": LAUGHS,
        },
    )

    with deadline(5):
        assert not form.is_valid()

    assert "anchors and aliases are not accepted (&a at line 1)" in " ".join(form.errors["playbook"])
    assert list(RunbookVersion.objects.values_list("pk", "content")) == before
