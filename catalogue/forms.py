"""Forms that squads curate their products with (used by the admin).

Validation rules live in ``Product.clean`` (form schema, runbook ownership)
and ``catalogue.services`` (dependency cycles); the form only calls them and
puts their messages on the right field.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput

from catalogue.models import Operation, Product, empty_form
from catalogue.services import validate_dependencies
from runbooks.extravars import contains_surrogate

MONOSPACE_ATTRS = {
    "class": "vLargeTextField",
    "rows": 16,
    "cols": 100,
    "spellcheck": "false",
    "style": "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre;",
}


class IndentedJSONField(forms.JSONField):
    """JSON shown indented, so a squad can read and edit its form schema.

    Django's field only expects ``JSONDecodeError`` from the parser; text
    nested deeper than Python's recursion limit (``RecursionError``) or a
    number too long to convert (``ValueError``) must be a field error too,
    not a server error."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError("This JSON is nested too deeply to read.", code="invalid") from None
        except ValueError as error:
            raise forms.ValidationError(f"This JSON cannot be read: {error}", code="invalid") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return InvalidJSONInput(data)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, InvalidJSONInput):
            return value
        # A lone surrogate (from a "\ud800" escape) cannot be sent in a UTF-8
        # page: show it escaped, as it was typed.
        return json.dumps(value, ensure_ascii=contains_surrogate(value), indent=2, cls=self.encoder)


class ProductForm(forms.ModelForm):
    """A product as its squad edits it in the admin."""

    form_schema = IndentedJSONField(
        label="Order form (JSON Schema)",
        required=False,
        initial=empty_form,
        widget=forms.Textarea(attrs=MONOSPACE_ATTRS),
        help_text='A JSON Schema object, e.g. {"type": "object", "required": ["vlan_id"], '
        '"properties": {"vlan_id": {"type": "integer", "minimum": 2, "maximum": 4094}}}. '
        'Mark a secret input with "x-secret": true.',
    )

    class Meta:
        model = Product
        fields = (
            "name",
            "slug",
            "squad",
            "category",
            "summary",
            "description",
            "tags",
            "fulfilment",
            "runbook",
            "approval_policy",
            "approval_remind_after_hours",
            "approval_escalate_after_hours",
            "sla_minutes",
            "unit_cost",
            "instance",
            "max_lifetime_days",
            "form_schema",
            "depends_on",
        )
        labels = {"sla_minutes": "SLA (minutes)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        depends_on = self.fields.get("depends_on")
        if (
            isinstance(depends_on, forms.ModelChoiceField)
            and depends_on.queryset is not None
            and self.instance.pk
        ):
            # A product cannot depend on itself; do not offer it.
            depends_on.queryset = depends_on.queryset.exclude(pk=self.instance.pk)

    def clean_form_schema(self) -> Any:
        """An empty box (or ``{}``) is a form without inputs: a manual product
        often asks nothing, and its curator should not have to type that."""
        value = self.cleaned_data.get("form_schema")
        return empty_form() if value in (None, "", {}) else value

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        depends_on = cleaned.get("depends_on")
        # The stored slug is the one the other products' dependencies point
        # to, so an edited product is checked under it; a new one under its
        # future slug.
        slug = self.instance.slug if self.instance.pk else cleaned.get("slug")
        if depends_on is not None and slug:
            # Raises a ValidationError keyed on ``depends_on`` naming the cycle;
            # the form attaches it to that field.
            validate_dependencies(product_slug=slug, depends_on=depends_on)
        return cleaned


class OperationForm(forms.ModelForm):
    """A day-2 operation as its squad edits it in the admin."""

    form_schema = IndentedJSONField(
        label="Operation form (JSON Schema)",
        required=False,
        initial=empty_form,
        widget=forms.Textarea(attrs=MONOSPACE_ATTRS),
        help_text="A JSON Schema object, as a product's. A field defaults from the instance's attribute "
        'of the same name. Mark a secret input with "x-secret": true.',
    )

    class Meta:
        model = Operation
        fields = (
            "product",
            "slug",
            "name",
            "kind",
            "position",
            "description",
            "runbook",
            "approval_policy",
            "approval_remind_after_hours",
            "approval_escalate_after_hours",
            "sla_minutes",
            "form_schema",
        )
        labels = {"sla_minutes": "SLA (minutes)"}

    def clean_form_schema(self) -> Any:
        value = self.cleaned_data.get("form_schema")
        return empty_form() if value in (None, "", {}) else value
