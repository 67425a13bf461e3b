"""Which numeric attributes a product's instances have: what an attribute
quota may limit.

An attribute quota is accepted on a name that is

- a number field (``type: integer`` or ``number``) of the product's order
  form or of one of its operations' forms: the value every create order
  gives, and the instance keeps unless its runbook reports another; or
- an attribute that an existing instance of the product reports with a
  number value (what a runbook adds with ``set_stats``).

Anything else (a text field, a name nothing gives) would count nothing
forever, so it is refused where quotas are curated, naming what is known.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Regex

from catalogue.models import Product
from portal.instances.models import ServiceInstance

NUMBER_TYPES = frozenset({"integer", "number"})
#: A JSON value read as text that is a number (as ``portal.consumption.quotas`` counts).
NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"


def form_number_fields(schemas: Iterable[object]) -> set[str]:
    """The names of the number fields of these form schemas."""
    names: set[str] = set()
    for schema in schemas:
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(properties, dict):
            continue
        for name, spec in properties.items():
            if isinstance(spec, dict) and spec.get("type") in NUMBER_TYPES:
                names.add(str(name))
    return names


def product_number_fields(product: Product) -> set[str]:
    """The number fields of the product's order form and its operations' forms."""
    operations = product.operations.values_list("form_schema", flat=True) if product.pk else []
    return form_number_fields([product.form_schema, *operations])


def reports_number(product: Product, attribute: str) -> bool:
    """Whether an instance of the product reports ``attribute`` as a number."""
    if not product.pk:
        return False
    return (
        ServiceInstance.objects.filter(product=product)
        .filter(Regex(KeyTextTransform(attribute, "attributes"), NUMBER))
        .exists()
    )


def attribute_problem(
    product: Product, attribute: str, *, number_fields: set[str] | None = None
) -> str | None:
    """Why ``attribute`` cannot be limited on ``product``'s instances, or None.
    ``number_fields`` replaces the product's forms' (the catalogue file's,
    before they are written)."""
    known = product_number_fields(product) if number_fields is None else number_fields
    if attribute in known or reports_number(product, attribute):
        return None
    listed = ", ".join(sorted(known)) or "none"
    return (
        f"{product.name}'s instances have no number attribute {attribute!r} "
        f"(the number fields of its forms: {listed}; or an attribute its instances report)"
    )
