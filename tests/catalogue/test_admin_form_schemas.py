"""The admin's form-schema box: shown as indented JSON, an empty box means no
inputs, and whatever a curator types by mistake is refused with a message on
the schema field, never a server error, in milliseconds."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from catalogue.models import Product
from tests.admin_forms import admin_url, field_errors, product_data


def test_change_form_shows_the_schema_as_indented_json_in_a_monospace_textarea(
    member_client: Client, product: Product
) -> None:
    response = member_client.get(admin_url(Product, "change", product.pk))

    html = response.content.decode()
    assert 'name="form_schema"' in html
    assert "monospace" in html
    assert "&quot;required&quot;: [\n" in html  # indented, one key per line


def test_a_new_product_starts_from_an_empty_form_and_an_empty_box_means_no_inputs(
    member_client: Client, product: Product
) -> None:
    add_page = member_client.get(admin_url(Product, "add")).content.decode()
    assert "null" not in add_page.split('name="form_schema"', 1)[1].split("</textarea>", 1)[0]
    assert "&quot;type&quot;: &quot;object&quot;" in add_page

    for box in ("", "{}"):
        response = member_client.post(
            admin_url(Product, "change", product.pk), product_data(product, form_schema=box)
        )
        assert response.status_code == 302, field_errors(response, "form_schema")
        product.refresh_from_db()
        assert product.form_schema == {"type": "object", "properties": {}}


def test_invalid_form_schema_is_refused_with_messages_on_the_schema_field(
    member_client: Client, product: Product
) -> None:
    bad_schema = {"type": "object", "properties": {"vlan_id": {"type": "integer", "pattern": "x"}}}

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(bad_schema))
    )

    assert response.status_code == 200
    assert "keyword 'pattern' is not supported for integer" in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert product.version == 1
    assert "pattern" not in json.dumps(product.form_schema)


def test_schema_that_is_not_json_is_refused_on_the_schema_field(
    member_client: Client, product: Product
) -> None:
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema="{type: object")
    )

    assert response.status_code == 200
    assert "Enter a valid JSON" in field_errors(response, "form_schema")
    # The unparsable text is given back to be fixed, not lost.
    assert "{type: object" in response.content.decode()


# --- Odd form schemas: a clear message, never a 500 -----------------------


def _form(properties: object, **root: object) -> dict[str, object]:
    return {"type": "object", "properties": properties, **root}


def _field(**spec: object) -> dict[str, object]:
    return _form({"name": spec})


#: Schemas a curator may type by mistake, each with (part of) the message the
#: schema field must show. Valid JSON Schema the order form cannot render
#: (a list of types) is refused as clearly as invalid JSON Schema.
ODD_SCHEMAS = [
    (_field(type=["string", "null"]), "a list of types"),
    (_field(type=["integer"]), "a list of types"),
    (_field(type={"const": "string"}), "has unsupported type"),
    (_field(type=None), "has unsupported type"),
    (_field(type=1.5), "has unsupported type"),
    (_field(type="string", format=["email"]), "format ['email'] is not supported"),
    (_field(type="string", format={"x": 1}), "is not supported"),
    (_field(type="string", **{"x-widget": ["textarea"]}), "x-widget must be 'textarea'"),
    (_field(type="string", **{"x-secret": "yes"}), "x-secret must be true or false"),
    (_field(type="string", pattern=["^a"]), "pattern must be text"),
    (_field(type="string", pattern=7), "pattern must be text"),
    (_field(type="string", enum={"a": 1}), "enum must be a non-empty list"),
    (_field(type="string", minLength="3"), "invalid JSON Schema"),
    (_field(type="integer", minimum="a", default=3), "invalid JSON Schema"),
    (_field(type="integer", minimum=[1], maximum={"a": 1}), "invalid JSON Schema"),
    (_field(type="integer", multipleOf=0), "invalid JSON Schema"),
    (_field(type="number", exclusiveMinimum="0", default=1), "invalid JSON Schema"),
    (_field(type="string", maxLength=-1, default="a"), "invalid JSON Schema"),
    (_field(type="array", items=["a"]), "an array must be a multiple choice"),
    (_field(type="array", items={"type": "string", "enum": "ab"}), "an array must be a multiple choice"),
    (_field(type="array", items={"type": ["string"], "enum": ["a"]}), "an array must be a multiple choice"),
    (_field(type="boolean", default="yes"), "the default does not fit"),
    (_field(type="string", title=["x"]), "invalid JSON Schema"),
    (_form(["name"]), "'properties' must be a mapping"),
    (_form("name"), "'properties' must be a mapping"),
    (_form({"name": "string"}), "must be a mapping"),
    (_form({"name": ["string"]}), "must be a mapping"),
    (_form({}, required="name"), "'required' must be a list"),
    (_form({}, required={"name": True}), "'required' must be a list"),
    (_form({}, required=[["name"]]), "'required' must be a list"),
    (_form({}, additionalProperties="no"), "invalid JSON Schema"),
    ({"type": ["object"], "properties": {}}, "the form's type must be 'object'"),
    ({"type": {"object": 1}}, "the form's type must be 'object'"),
    ({"type": "object", "properties": {}, "patternProperties": {"(a+)+": {}}}, "unsupported keyword"),
    (["type", "object"], "must be a JSON Schema object"),
    ("object", "must be a JSON Schema object"),
    (42, "must be a JSON Schema object"),
]


@pytest.mark.parametrize(("schema", "message"), ODD_SCHEMAS, ids=[json.dumps(s)[:60] for s, _ in ODD_SCHEMAS])
def test_an_odd_form_schema_is_refused_with_a_message_never_a_server_error(
    member_client: Client, product: Product, schema: object, message: str
) -> None:
    before = product.form_schema

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(schema))
    )

    assert response.status_code == 200
    assert message in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert (product.version, product.form_schema) == (1, before)


def _one_field(spec: str) -> str:
    """A form schema as typed in the box, with ``spec`` as its one field."""
    return '{"type": "object", "properties": {"n": ' + spec + "}}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_one_field('{"type": "number", "maximum": NaN}'), "not a JSON number"),
        (_one_field('{"type": "number", "maximum": Infinity}'), "not a JSON number"),
        (_one_field('{"type": "number", "maximum": 1e400}'), "not a JSON number"),
        (_one_field('{"type": "string", "default": "\\ud800"}'), "not valid text"),
        ('{"type": "object", "title": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        (_one_field('{"type": "string", "examples": ' + "[" * 150 + "]" * 150 + "}"), "nested too deeply"),
        (_one_field('{"type": "integer", "maximum": 1' + "0" * 5000 + "}"), "This JSON cannot be read"),
    ],
    ids=["nan", "infinity", "overflow", "lone-surrogate", "deep-100000", "deep-150", "huge-integer"],
)
def test_json_that_is_no_json_value_is_refused_on_the_schema_field(
    member_client: Client, product: Product, text: str, message: str
) -> None:
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=text)
    )

    assert response.status_code == 200
    assert message in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert product.version == 1


def test_a_pattern_re2_cannot_run_is_refused_naming_the_field(
    member_client: Client, product: Product
) -> None:
    schema = _form({"vlan_name": {"type": "string", "pattern": "^(a)\\1$"}})

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(schema))
    )

    assert response.status_code == 200
    errors = field_errors(response, "form_schema")
    assert "properties.vlan_name.pattern: property 'vlan_name': pattern '^(a)\\\\1$' cannot be used" in errors
    assert "no backreferences" in errors
    product.refresh_from_db()
    assert product.version == 1 and "pattern" not in json.dumps(product.form_schema)


def test_a_backtracking_default_is_checked_in_milliseconds(member_client: Client, product: Product) -> None:
    schema = _field(type="string", pattern="^(a+)+$", default="a" * 28 + "!")

    started = time.perf_counter()
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(schema))
    )

    assert time.perf_counter() - started < 2
    assert "the default does not fit" in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert product.version == 1
