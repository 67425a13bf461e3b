"""The order form generated from a product's JSON Schema: every supported
type gets the right control, hints and conversion; rules stay with
validate_inputs."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.http import QueryDict

from catalogue.inputs import validate_inputs
from catalogue.schema import form_schema_problems
from portal.pages.forms import OrderForm, schema_initial

SCHEMA = {
    "type": "object",
    "required": ["hostname", "os", "owner_email", "cpu", "scopes", "api_secret"],
    "properties": {
        "hostname": {
            "type": "string",
            "title": "Host name",
            "description": "Lower case, for example `app-01`.",
            "pattern": "^[a-z][a-z0-9-]{1,30}$",
            "minLength": 3,
            "maxLength": 32,
            "examples": ["billing-app-01"],
        },
        "os": {
            "type": "string",
            "enum": ["ubuntu-24.04", "debian-12"],
            "default": "debian-12",
            "title": "OS",
        },
        "owner_email": {"type": "string", "format": "email"},
        "homepage": {"type": "string", "format": "uri"},
        "restore_date": {"type": "string", "format": "date"},
        "window": {"type": "string", "format": "date-time"},
        "at": {"type": "string", "format": "time"},
        "address": {"type": "string", "format": "ipv4"},
        "notes": {"type": "string", "x-widget": "textarea", "maxLength": 2000, "default": ""},
        "cpu": {"type": "integer", "minimum": 1, "maximum": 32, "default": 2},
        "slots": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        "memory_gb": {"type": "number", "minimum": 0.5, "maximum": 256, "multipleOf": 0.5, "default": 4},
        "ratio": {"type": "number", "minimum": 0.1},
        "size": {"type": "integer", "enum": [10, 20, 40]},
        "backup": {"type": "boolean", "default": True, "title": "Nightly backups"},
        "scopes": {
            "type": "array",
            "items": {"type": "string", "enum": ["orders:read", "orders:write"]},
            "uniqueItems": True,
            "minItems": 1,
            "default": ["orders:read"],
        },
        "regions": {
            "type": "array",
            "items": {"type": "string", "enum": [f"region-{n}" for n in range(12)]},
            "default": [],
        },
        "api_secret": {"type": "string", "x-secret": True, "minLength": 16, "title": "Initial secret"},
    },
}


class Controls(HTMLParser):
    """The form controls in rendered HTML, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, list[dict[str, str]]] = {}
        self.labels: list[str] = []
        self._tag: str | None = None

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        # A boolean attribute (required, checked…) has no value: keep it as "".
        attributes = {key: "" if value is None else value for key, value in attrs}
        if tag in ("input", "select", "textarea") and attributes.get("name"):
            self.controls.setdefault(str(attributes["name"]), []).append({"tag": tag, **attributes})
        if tag == "option" and attributes.get("selected") is not None:
            self.labels.append(f"selected:{attributes.get('value')}")


def render(form: OrderForm) -> Controls:
    parser = Controls()
    parser.feed("".join(str(field) for field in form))
    return parser


def control(form: OrderForm, name: str) -> dict[str, str]:
    return render(form).controls[f"inputs-{name}"][0]


def test_the_schema_used_here_is_a_valid_order_form():
    assert form_schema_problems(SCHEMA) == []


@pytest.fixture
def form():
    return OrderForm(SCHEMA, initial=schema_initial(SCHEMA))


def test_strings_get_their_constraints_as_browser_hints(form):
    hostname = control(form, "hostname")
    assert hostname["type"] == "text"
    assert (hostname["minlength"], hostname["maxlength"]) == ("3", "32")
    assert "required" in hostname
    assert hostname["placeholder"] == "e.g. billing-app-01"
    assert hostname["spellcheck"] == "false"
    assert form["hostname"].label == "Host name"
    assert "<code>app-01</code>" in form.description_html("hostname")


@pytest.mark.parametrize("pattern", ["^[a-z][a-z0-9-]{1,30}$", "^(a+)+$", "^(a|aa)*$", "^.*.*.*.*=$"])
def test_no_pattern_reaches_the_browser_whose_engine_backtracks(pattern):
    """The server checks patterns with RE2; the browser's engine backtracks,
    and no simple test tells the patterns that freeze it from the others."""
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": pattern}}}
    html = "".join(str(field) for field in OrderForm(schema))

    assert "pattern" not in html and pattern not in html
    assert control(OrderForm(schema), "name")["spellcheck"] == "false"


def test_the_page_script_runs_no_regular_expression_from_the_page():
    script = (Path(__file__).parents[3] / "portal" / "static" / "js" / "squadron.js").read_text()

    assert "RegExp" not in script and "data-pattern" not in script


@pytest.mark.parametrize(
    ("name", "html_type"),
    [
        ("owner_email", "email"),
        ("homepage", "url"),
        ("restore_date", "date"),
        ("window", "datetime-local"),
        ("at", "time"),
        ("address", "text"),
    ],
)
def test_string_formats_get_the_matching_input_type(form, name, html_type):
    assert control(form, name)["type"] == html_type


def test_textarea_enum_and_untitled_fields(form):
    assert control(form, "notes")["tag"] == "textarea"
    os_control = control(form, "os")
    assert os_control["tag"] == "select"
    assert "selected:debian-12" in render(form).labels  # the default is chosen
    assert form["owner_email"].label == "Owner email"  # no title: the name, readable


def test_numbers_get_bounds_and_steps(form):
    cpu = control(form, "cpu")
    assert (cpu["type"], cpu["min"], cpu["max"], cpu["step"]) == ("number", "1", "32", "1")
    slots = control(form, "slots")
    assert (slots["min"], slots["max"]) == ("1", "9"), "exclusive integer bounds become inclusive ones"
    memory = control(form, "memory_gb")
    assert (memory["min"], memory["step"]) == ("0.5", "0.5")
    assert control(form, "ratio")["step"] == "any"
    assert control(form, "size")["tag"] == "select"


def test_booleans_and_multiple_choices(form):
    controls = render(form).controls
    backup = controls["inputs-backup"][0]
    assert backup["type"] == "checkbox" and "checked" in backup
    assert form["scopes"].use_fieldset  # a group of checkboxes with a legend
    scopes = controls["inputs-scopes"]
    assert [(c["type"], c["value"]) for c in scopes] == [
        ("checkbox", "orders:read"),
        ("checkbox", "orders:write"),
    ]
    assert "checked" in scopes[0] and "checked" not in scopes[1]
    regions = controls["inputs-regions"][0]
    assert regions["tag"] == "select" and "multiple" in regions  # many options: a list


def test_a_secret_is_a_password_field_that_never_shows_its_value():
    data = QueryDict(mutable=True)
    data["inputs-api_secret"] = "hunter2-hunter2-hunter2"
    form = OrderForm(SCHEMA, data=data)
    secret = control(form, "api_secret")
    assert secret["type"] == "password"
    assert "value" not in secret
    assert secret["autocomplete"] == "new-password"
    assert "hunter2" not in "".join(str(field) for field in form)


def test_inputs_convert_types_and_leave_out_empty_optional_fields():
    data = QueryDict(mutable=True)
    data.update(
        {
            "inputs-hostname": " web-01 ",
            "inputs-os": "ubuntu-24.04",
            "inputs-owner_email": "ops@example.com",
            "inputs-cpu": "4",
            "inputs-memory_gb": "8",
            "inputs-ratio": "0.25",
            "inputs-size": "20",
            "inputs-homepage": "",
            "inputs-api_secret": " spaces kept in secrets ",
        }
    )
    data.setlist("inputs-scopes", ["orders:read", "orders:write"])
    form = OrderForm(SCHEMA, data=data)
    assert form.is_valid(), form.errors
    inputs = form.inputs()
    assert inputs == {
        "hostname": "web-01",
        "os": "ubuntu-24.04",
        "owner_email": "ops@example.com",
        "cpu": 4,
        "memory_gb": 8,
        "ratio": 0.25,
        "size": 20,
        "backup": False,  # an unticked checkbox is a clear "no"
        "scopes": ["orders:read", "orders:write"],
        "regions": [],  # none chosen in an optional multiple choice: an empty list, not the default
        "api_secret": " spaces kept in secrets ",
    }
    assert type(inputs["memory_gb"]) is int  # "8" in a number field is 8 for the runbook, not 8.0
    _, errors = validate_inputs(SCHEMA, inputs)
    assert errors == {}


def test_empty_required_fields_are_left_for_the_schema_to_name():
    form = OrderForm(SCHEMA, data=QueryDict())
    assert form.is_valid()
    inputs = form.inputs()
    assert "hostname" not in inputs
    assert inputs["scopes"] == [], "unticking every box means none, not the default"
    _, errors = validate_inputs(SCHEMA, inputs)
    form.add_schema_errors(errors)
    assert form.errors["hostname"] == ["This field is required."]
    assert form.errors["scopes"] == ["Choose at least 1."]


def test_a_missed_pattern_is_explained_by_example_or_description_not_regex():
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Z_]+$", "examples": ["FINANCE_USERS"]},
            "ports": {"type": "string", "pattern": "^[0-9,]+$", "description": "Comma-separated ports."},
            "code": {"type": "string", "pattern": "^[a-z]+$"},
        },
    }
    _, errors = validate_inputs(schema, {"name": "x", "ports": "x", "code": "X"})
    assert errors == {
        "name": ["Not in the expected format; for example: FINANCE_USERS."],
        "ports": ["Not in the expected format: Comma-separated ports."],
        "code": ["Must match the pattern ^[a-z]+$."],
    }


def test_conversion_errors_are_kept_and_schema_errors_join_them():
    data = QueryDict(mutable=True)
    data.update({"inputs-cpu": "many", "inputs-hostname": "Web 01", "inputs-size": "30"})
    form = OrderForm(SCHEMA, data=data)
    assert not form.is_valid()
    _, errors = validate_inputs(SCHEMA, form.inputs())
    form.add_schema_errors({**errors, "cpu": ["This field is required."], "colour": ["Not in the form."]})
    assert form.errors["cpu"] == ["Enter a whole number."]  # not also "required"
    assert form.errors["hostname"] == ["Not in the expected format; for example: billing-app-01."]
    assert "size" in form.errors
    assert form.non_field_errors() == ["Not in the form."]
    assert form["cpu"].value() == "many"  # what the user typed stays in the field
