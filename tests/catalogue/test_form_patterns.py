"""A squad's form ``pattern`` runs with RE2 wherever the server runs it: the
order form, the API, a default checked at curation, the import. A pattern
that backtracks in Python (``^(a+)+$``) costs milliseconds; one that only a
backtracking engine can run (backreferences, lookaround) is refused when the
form is curated, and never run with ``re`` if one is already stored."""

from __future__ import annotations

import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from jsonschema.exceptions import SchemaError
from rest_framework.test import APIClient

from catalogue.inputs import validate_inputs
from catalogue.models import Product
from catalogue.patterns import FormValidator, check_schema, pattern_problem, pattern_search
from catalogue.schema import form_schema_problems
from portal.integrations.tokens import token_create
from portal.orders.models import Order
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

#: Python's ``re`` needs 2^28 steps to refuse this input: 10 s of CPU (more on
#: a loaded machine), doubling with each more "a".
EVIL = "^(a+)+$"
EVIL_INPUT = "a" * 28 + "!"
#: Far more than RE2 needs (microseconds), far less than ``re`` does; the
#: request is timed after a first one, so that loading templates and code
#: (slow on a loaded machine) is not counted.
FAST = 2.0


def _schema(**spec: object) -> dict:
    return {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", **spec}}}


@pytest.fixture
def api(requester) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=requester, name='tests').key}")
    return client


@pytest.fixture
def evil_product(squad):
    return ProductFactory(slug="evil", name="Evil", squad=squad, form_schema=_schema(pattern=EVIL))


def test_a_backtracking_pattern_is_a_valid_form_re2_runs_in_linear_time():
    assert form_schema_problems(_schema(pattern=EVIL)) == []


def test_the_order_page_refuses_a_backtracking_input_in_milliseconds(client, requester, evil_product):
    client.force_login(requester)
    client.post("/products/evil/order/", {"inputs-name": "!"})

    started = time.perf_counter()
    response = client.post("/products/evil/order/", {"inputs-name": EVIL_INPUT})

    assert time.perf_counter() - started < FAST
    assert response.status_code == 422
    assert response.context["form"].errors["name"] == [f"Must match the pattern {EVIL}."]
    assert Order.objects.count() == 0


def test_the_api_refuses_a_backtracking_input_in_milliseconds(api, evil_product):
    api.post("/api/v1/orders/", {"product": "evil", "inputs": {"name": "!"}}, format="json")

    started = time.perf_counter()
    response = api.post("/api/v1/orders/", {"product": "evil", "inputs": {"name": EVIL_INPUT}}, format="json")

    assert time.perf_counter() - started < FAST
    assert response.status_code == 400, response.content
    assert "name" in str(response.json())
    assert Order.objects.count() == 0


def test_a_matching_input_is_accepted(api, evil_product):
    response = api.post("/api/v1/orders/", {"product": "evil", "inputs": {"name": "a" * 5000}}, format="json")

    assert response.status_code == 201, response.content
    assert Order.objects.get().inputs == {"name": "a" * 5000}


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("b", "abc", True),  # JSON Schema's pattern is unanchored
        ("^b", "abc", False),
        ("^[a-z][a-z0-9-]{1,30}$", "app-01", True),
        ("^[a-z][a-z0-9-]{1,30}$", "App-01", False),
        ("^\\d{3}$", "123", True),
        ("^[A-Z_]+$", "FINANCE_USERS", True),
        ("^[A-Z_]+$", "FINANCE USERS", False),
        ("^\\p{L}+$", "Zürich", True),
        ("^.$", "ü", True),  # one character, not one byte
        ("(?i)^abc$", "ABC", True),
    ],
)
def test_patterns_keep_json_schema_meaning(pattern: str, value: str, matches: bool):
    _, errors = validate_inputs(_schema(pattern=pattern), {"name": value})

    assert (errors == {}) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        "^(a)\\1$",
        "^(?=a)",
        "^(?!a)",
        "(?<=a)b",
        "(?<!a)b",
        "(",
        "a{1001}{2}",
        "[z-a]",
        "(a{1000}){1000}",
        "a" * 1001,
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_at_curation_naming_the_field(pattern: str):
    problems = form_schema_problems(_schema(pattern=pattern))

    assert [problem.path for problem in problems] == [("properties", "name", "pattern")]
    assert "property 'name': pattern " in problems[0].message and "cannot be used" in problems[0].message
    assert pattern_problem(pattern) is not None


def test_a_stored_pattern_re2_cannot_run_refuses_the_input_without_running_re(squad):
    """A form saved before patterns were checked with RE2: its field cannot
    be checked, so nothing is accepted through it, and ``re`` never runs."""
    schema = _schema(pattern="^(a|aa)+(?=!)\\1$")

    _completed, errors = validate_inputs(schema, {"name": "a" * 40})

    assert errors == {
        "name": ["This field cannot be checked: its pattern is not supported. Ask the squad to fix its form."]
    }


def test_pattern_properties_and_additional_properties_use_re2():
    schema = {
        "type": "object",
        "patternProperties": {EVIL: {"type": "integer"}},
        "additionalProperties": False,
    }
    validator = FormValidator(schema)

    started = time.perf_counter()
    errors = [error.message for error in validator.iter_errors({EVIL_INPUT: 1, "aaa": "x"})]

    assert time.perf_counter() - started < FAST
    assert errors == [
        "'x' is not of type 'integer'",
        f"Additional properties are not allowed ('{EVIL_INPUT}' was unexpected)",
    ]
    assert list(FormValidator({"patternProperties": {"(?=a)": {}}}).iter_errors({"a": 1}))
    assert list(FormValidator({"unevaluatedProperties": False}).iter_errors({}))


def test_the_meta_schema_check_judges_patterns_with_re2():
    check_schema({"type": "string", "pattern": EVIL})
    with pytest.raises(SchemaError, match="is not a 'regex'"):
        check_schema({"type": "string", "pattern": "(?=a)"})


def test_a_search_of_text_with_a_lone_surrogate_matches_nothing():
    assert pattern_search(".", "\ud800") is False
    assert pattern_search(".", "ok") is True


CATALOGUE = """
squads:
  - slug: network
    name: Network Squad
    mission: Connectivity
    members: []
products:
  - slug: vlan
    name: New VLAN
    category: Network
    squad: network
    summary: A VLAN
    fulfilment: manual
    form:
      type: object
      properties:
        vlan_name: {type: string, pattern: "^(?!x)[A-Z_]+$"}
"""


def test_the_import_refuses_a_pattern_re2_cannot_run_with_its_location(tmp_path: Path):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    stderr = StringIO()

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalogue", str(path), stdout=StringIO(), stderr=stderr)

    line = CATALOGUE.splitlines().index('        vlan_name: {type: string, pattern: "^(?!x)[A-Z_]+$"}') + 1
    assert f"{path}:{line}: products[0].form.properties.vlan_name.pattern: " in stderr.getvalue()
    assert "no lookaround" in stderr.getvalue()
    assert not Product.objects.exists()
