"""An instance's attributes: stored with secrets masked and encrypted apart,
as an order's inputs are, and merged with what runbooks report."""

from __future__ import annotations

from typing import Any

from catalogue.inputs import MASK
from catalogue.models import Product
from catalogue.schema import secret_fields
from portal.instances.models import ServiceInstance
from portal.instances.report import Report
from runbooks.crypto import decrypt_json, encrypt_json
from runbooks.execution.masking import secret_leaves


def declared_secret_names(product: Product) -> set[str]:
    """Attribute names that are secret because a form of the product (its
    own or an operation's) marks the field of that name ``x-secret``."""
    names = secret_fields(product.form_schema or {})
    for schema in product.operations.values_list("form_schema", flat=True):
        names |= secret_fields(schema or {})
    return names


def secret_attributes(instance: ServiceInstance) -> dict[str, Any]:
    """The clear values of the instance's secret attributes (decrypted)."""
    if not instance.secret_attributes_ciphertext:
        return {}
    values = decrypt_json(instance.secret_attributes_ciphertext)
    return values if isinstance(values, dict) else {}


def clear_attributes(instance: ServiceInstance) -> dict[str, Any]:
    """Every attribute with its clear value: for the instance's playbooks only."""
    return {**instance.attributes, **secret_attributes(instance)}


def merged_fields(instance: ServiceInstance, report: Report) -> dict[str, Any]:
    """The instance's columns after taking ``report``: attributes merged
    (``None`` removes one), secrets masked and encrypted apart, name and
    links when reported."""
    masked = dict(instance.attributes)
    secrets = secret_attributes(instance)
    for name, value in report.attributes.items():
        masked.pop(name, None)
        secrets.pop(name, None)
        if value is None:
            continue
        if name in report.secret_names or name in secrets:
            secrets[name] = value
            masked[name] = MASK
        else:
            masked[name] = value
    fields: dict[str, Any] = {
        "attributes": masked,
        "secret_attributes_ciphertext": encrypt_json(secrets) if secrets else "",
    }
    if report.name:
        fields["name"] = report.name
    if report.links is not None:
        fields["links"] = report.links
    return fields


def secret_values(instance: ServiceInstance) -> list[str]:
    """Every scalar of the instance's secret attributes as text: masked in
    the output of its runs."""
    return secret_leaves(secret_attributes(instance))


def form_defaults(instance: ServiceInstance, schema: dict) -> dict:
    """``schema`` with each field's default taken from the instance's
    attribute of the same name, when the attribute fits the field's type.
    Secret attributes never prefill a form (secrets are typed again)."""
    properties = dict(schema.get("properties") or {}) if isinstance(schema, dict) else {}
    for name, spec in properties.items():
        value = instance.attributes.get(name)
        if not isinstance(spec, dict) or spec.get("x-secret") or value in (None, MASK):
            continue
        if _fits(value, spec.get("type")):
            properties[name] = {**spec, "default": value}
    return {**schema, "properties": properties} if properties else schema


def _fits(value: Any, kind: object) -> bool:
    checks: dict[object, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
        "array": (list,),
        "object": (dict,),
    }
    expected = checks.get(kind)
    if expected is None:
        return False
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, expected)
