"""Conditional fields: if/then/else and dependentRequired checked at
curation (a condition naming an unknown field is refused with its place, in
the model, hence the admin, and the import), and the server validating with
the same schema, dropping what a condition hides."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.conditions import condition_problems, hidden_fields, required_when_shown
from catalogue.inputs import validate_inputs
from catalogue.models import Product
from catalogue.schema import form_schema_problems

DATABASE = {
    "type": "object",
    "required": ["tier"],
    "properties": {
        "tier": {"type": "string", "enum": ["development", "production"], "default": "development"},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "title": "Replica count"},
        "dr_site": {"type": "string", "enum": ["ams1", "lon1"]},
        "note": {"type": "string"},
        "contact": {"type": "string"},
    },
    "if": {"properties": {"tier": {"const": "production"}}, "required": ["tier"]},
    "then": {"required": ["replicas"], "properties": {"replicas": {"minimum": 2}}},
    "else": {"properties": {"note": {}}},
    "allOf": [
        {
            "if": {"properties": {"replicas": {"enum": [3, 4, 5]}}, "required": ["replicas"]},
            "then": {"required": ["dr_site"]},
        }
    ],
    "dependentRequired": {"note": ["contact"]},
}


def test_a_form_with_conditions_is_accepted():
    assert form_schema_problems(DATABASE) == []


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"then": {"required": ["replica"]}}, "then.required.0", "'replica' is not a field of this form"),
        (
            {"if": {"properties": {"teir": {"const": "production"}}}},
            "if.properties.teir",
            "'teir' is not a field",
        ),
        (
            {"then": {"properties": {"replicas": {"type": "string"}}}},
            "then.properties.replicas.type",
            "cannot",
        ),
        ({"if": {"properties": {"tier": {"pattern": "^p"}}}}, "if.properties.tier", "const"),
        ({"if": {"anyOf": []}}, "if", "an 'if' is"),
        ({"dependentRequired": {"note": ["nobody"]}}, "dependentRequired.note.0", "'nobody' is not"),
        ({"allOf": [{"then": {}}]}, "allOf.0", "each item of allOf is a condition"),
    ],
)
def test_a_condition_that_cannot_work_is_refused_with_its_place(change, where, message):
    problems = form_schema_problems({**DATABASE, **change})
    assert any(str(problem).startswith(f"{where}: ") and message in str(problem) for problem in problems), (
        problems
    )


def test_a_conditional_field_required_at_the_top_is_refused():
    problems = [
        str(problem) for problem in form_schema_problems({**DATABASE, "required": ["tier", "replicas"]})
    ]
    assert problems == [
        "required.1: 'replicas' shows only under a condition: require it in the branch that shows it"
    ]


@pytest.mark.parametrize(
    ("dependent", "where", "needed", "given"),
    [
        # tier always shows, replicas only for production: tier given, replicas hidden.
        ({"tier": ["replicas"]}, "dependentRequired.tier.0", "replicas", "tier"),
        # note shows for development, replicas for production: never both.
        ({"note": ["contact", "replicas"]}, "dependentRequired.note.1", "replicas", "note"),
        # replicas shows for production, dr_site only for 3 to 5 of them.
        ({"replicas": ["dr_site"]}, "dependentRequired.replicas.0", "dr_site", "replicas"),
    ],
)
def test_dependent_required_naming_a_field_that_may_be_hidden_is_refused_at_its_name(
    dependent, where, needed, given
):
    # Given while it is hidden, the needed field is dropped, then missing: no order could pass.
    schema = {**DATABASE, "dependentRequired": dependent}
    problems = [str(problem) for problem in form_schema_problems(schema)]
    assert problems == [
        f"{where}: {needed!r} shows only under a condition: an order giving {given!r} while "
        f"{needed!r} is hidden could never pass; require {needed!r} in the branch that shows it, "
        f"or show {given!r} only under the conditions that show {needed!r}"
    ]


def test_dependent_required_between_fields_that_show_together_is_accepted():
    # A hidden note is dropped, so its dependency never applies; shown, the contact shows with it.
    schema = {**DATABASE, "else": {"properties": {"note": {}, "contact": {}}}}
    assert form_schema_problems(schema) == []
    _, errors = validate_inputs(schema, {"tier": "development", "note": "hi"})
    assert errors == {"contact": ["This field is required when note is given."]}
    inputs, errors = validate_inputs(schema, {"tier": "production", "replicas": 2, "note": "hi"})
    assert errors == {} and "note" not in inputs


def test_a_field_every_showing_branch_requires_is_said_required():
    assert required_when_shown(DATABASE) == {"replicas", "dr_site"}


def test_then_without_if_is_refused():
    schema = {key: value for key, value in DATABASE.items() if key != "if"}
    assert "if: 'then' and 'else' need an 'if'" in [str(problem) for problem in form_schema_problems(schema)]


@pytest.mark.django_db
def test_the_model_refuses_an_unknown_field_in_a_condition(product):
    before = product.form_schema
    product.form_schema = {**DATABASE, "then": {"required": ["replica"]}}
    with pytest.raises(ValidationError) as refused:
        product.full_clean()
    assert (
        "then.required.0: 'replica' is not a field of this form" in refused.value.message_dict["form_schema"]
    )
    product.refresh_from_db()
    assert product.form_schema == before


def test_hidden_fields_follow_the_conditions():
    assert hidden_fields(DATABASE, {"tier": "development"}) == {"replicas", "dr_site"}
    assert hidden_fields(DATABASE, {"tier": "production", "replicas": 2}) == {"dr_site", "note"}
    assert hidden_fields(DATABASE, {"tier": "production", "replicas": 4}) == {"note"}
    # A field shown by a hidden one is hidden too: replicas sent for development shows no DR site.
    assert hidden_fields(DATABASE, {"tier": "development", "replicas": 4}) == {"replicas", "dr_site"}


def test_the_server_drops_hidden_values_and_requires_what_a_branch_requires():
    inputs, errors = validate_inputs(DATABASE, {"tier": "development", "replicas": 4, "dr_site": "ams1"})
    assert (inputs, errors) == ({"tier": "development"}, {})

    _, errors = validate_inputs(DATABASE, {"tier": "production"})
    assert errors == {"replicas": ["This field is required."]}
    _, errors = validate_inputs(DATABASE, {"tier": "production", "replicas": 1})
    assert errors == {"replicas": ["Must be at least 2."]}
    _, errors = validate_inputs(DATABASE, {"tier": "production", "replicas": 4})
    assert errors == {"dr_site": ["This field is required."]}
    inputs, errors = validate_inputs(DATABASE, {"tier": "production", "replicas": 4, "dr_site": "lon1"})
    assert errors == {} and inputs == {"tier": "production", "replicas": 4, "dr_site": "lon1"}


def test_dependent_required_names_the_missing_field():
    _, errors = validate_inputs(DATABASE, {"tier": "development", "note": "hi"})
    assert errors == {"contact": ["This field is required when note is given."]}
    _, errors = validate_inputs(DATABASE, {"tier": "development", "note": "hi", "contact": "bea"})
    assert errors == {}


CATALOGUE = """
squads:
  - slug: data
    name: Data Squad
    mission: Databases
    members: []
products:
  - slug: db
    name: Database
    category: Data
    squad: data
    summary: A database
    fulfilment: manual
    form:
      type: object
      properties:
        tier: {type: string, enum: [development, production]}
        replicas: {type: integer}
      if:
        properties: {tier: {const: production}}
      then:
        required: [replica_count]
"""


@pytest.mark.django_db
def test_the_import_refuses_an_unknown_field_in_a_condition_with_its_location(tmp_path: Path):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    stderr = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalogue", str(path), stdout=StringIO(), stderr=stderr)
    line = CATALOGUE.splitlines().index("        required: [replica_count]") + 1
    assert (
        f"{path}:{line}: products[0].form.then.required[0]: 'replica_count' is not a field of this form"
        in stderr.getvalue()
    )
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_the_import_refuses_dependent_required_naming_a_field_that_may_be_hidden(tmp_path: Path):
    dependency = "      dependentRequired: {tier: [replicas]}"
    text = CATALOGUE.replace("required: [replica_count]\n", f"required: [replicas]\n{dependency}\n")
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    stderr = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalogue", str(path), stdout=StringIO(), stderr=stderr)
    line = text.splitlines().index(dependency) + 1
    assert (
        f"{path}:{line}: products[0].form.dependentRequired.tier[0]: 'replicas' shows only under a "
        "condition: an order giving 'tier' while 'replicas' is hidden could never pass"
    ) in stderr.getvalue()
    assert not Product.objects.exists()


def _hidden_by_definition(schema: dict, inputs: dict) -> set[str]:
    """What hidden_fields must answer, computed the plain way: every
    condition weighed again, with a fresh validator, each round."""
    from catalogue.conditions import conditional_fields
    from catalogue.patterns import FormValidator

    shown_by = conditional_fields(schema)
    hidden: set[str] = set()
    for _ in range(len(shown_by) + 1):
        visible = {name: value for name, value in inputs.items() if name not in hidden}
        now = {
            name
            for name, conditions in shown_by.items()
            if not any(FormValidator(test).is_valid(visible) == holds for test, holds in conditions)
        }
        if now == hidden:
            break
        hidden = now
    return hidden


def test_hidden_fields_weighs_again_only_what_changed_and_answers_as_the_plain_way() -> None:
    """Random forms whose fields show one another in chains, trees and
    cycles, with then and else branches, give the same hidden fields as
    weighing every condition each round."""
    import random

    chooser = random.Random(20261204)
    for _ in range(400):
        names = [f"f{number}" for number in range(chooser.randint(2, 9))]
        conditions = []
        for _ in range(chooser.randint(1, 8)):
            tested, shown = chooser.sample(names, 2)
            test = {"properties": {tested: {"enum": chooser.sample(["a", "b", "c"], chooser.randint(1, 2))}}}
            if chooser.random() < 0.5:
                test["required"] = [tested]
            branch = chooser.choice(["then", "else"])
            conditions.append({"if": test, branch: {"properties": {shown: {}}}})
        schema = {"type": "object", "properties": {name: {"type": "string"} for name in names}}
        schema["allOf"] = conditions
        inputs = {name: chooser.choice("abc") for name in names if chooser.random() < 0.8}

        assert hidden_fields(schema, inputs) == _hidden_by_definition(schema, inputs), (schema, inputs)


def test_a_long_chain_of_fields_each_shown_by_the_one_before_hides_all_after_a_no() -> None:
    count = 1_000
    schema = {
        "type": "object",
        "properties": {f"f{number}": {"type": "string"} for number in range(count)},
        "allOf": [
            {
                "if": {"properties": {f"f{number}": {"const": "yes"}}, "required": [f"f{number}"]},
                "then": {"properties": {f"f{number + 1}": {}}},
            }
            for number in range(count - 1)
        ],
    }
    inputs = {f"f{number}": "yes" for number in range(count)} | {"f500": "no"}

    assert hidden_fields(schema, inputs) == {f"f{number}" for number in range(501, count)}
    schema["required"] = ["f0", "f1"]
    assert condition_problems(schema, schema["properties"], lambda spec: {"minLength"}) == [
        (("required", 1), "'f1' shows only under a condition: require it in the branch that shows it")
    ]
