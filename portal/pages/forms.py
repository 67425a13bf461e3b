"""Forms of the portal's pages.

The order form is generated from the product's JSON Schema. It only turns
what the browser sends into JSON values (text to integers, checkboxes to
booleans, multi-selects to lists); whether those values are acceptable is
decided by ``catalogue.inputs.validate_inputs``, the same function the API
and ``portal.orders.submission.order_submit`` use, so the browser can never accept what the
API refuses or the other way round. The schema's constraints are also put on
the widgets (``required``, ``min``, ``maxlength``…) as hints the browser
checks before sending; they are never the only check.

A ``pattern`` is the exception: it is never sent to the browser (see
``schema_field``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

from django import forms
from django.http import QueryDict

from catalogue.conditions import browser_conditions, hidden_fields, required_when_shown
from catalogue.dynamic_choices import EXTENSION, LABELS, UNAVAILABLE, choice_message
from catalogue.markdown import render_markdown
from catalogue.schema import secret_fields
from portal.orders.choices import OPEN_STATUSES, OrderStatus
from portal.orders.seen import Seen
from portal.web.inputs import field_title

#: Up to this many options an array of enum is a group of checkboxes (easier
#: to use and to read); beyond, a multiple select list.
CHECKBOX_LIMIT = 10

TEXT_FORMAT_WIDGETS: dict[str, type[forms.Widget]] = {
    "email": forms.EmailInput,
    "uri": forms.URLInput,
}
#: HTML input types for the formats a browser has a picker for.
DATE_FORMAT_TYPES = {"date": "date", "date-time": "datetime-local", "time": "time"}
#: Formats of technical identifiers: no spell checking or capitalisation.
IDENTIFIER_FORMATS = {"ipv4", "ipv6", "hostname", "uuid", "uri", "email"}


def _choice(value: object) -> tuple[str, str]:
    return str(value), str(value)


def _options(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An enum's options; a live one (``x-choices-from``) with its labels."""
    labels = spec.get(LABELS)
    if isinstance(labels, list) and len(labels) == len(spec["enum"]):
        return [(str(value), str(label)) for value, label in zip(spec["enum"], labels, strict=True)]
    return [_choice(value) for value in spec["enum"]]


def _empty_label(spec: Mapping[str, Any], *, required: bool) -> str:
    """The first option of a select: what to do, or why there is nothing to pick."""
    if spec.get(UNAVAILABLE):
        return "(the choices could not be loaded)"
    if LABELS in spec and not spec["enum"]:
        return "(nothing to choose from yet)"
    return "Choose…" if required else "(none)"


def _coerce_for(kind: str) -> Callable[[str], int | float | str]:
    if kind == "integer":
        return int
    if kind == "number":
        return _number
    return str


def _number(value: str) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def _number_attrs(spec: Mapping[str, Any], kind: str) -> dict[str, object]:
    """min/max/step hints. JSON Schema's exclusive bounds become inclusive ones
    only for integers, where that is exact."""
    attrs: dict[str, object] = {}
    minimum, maximum = spec.get("minimum"), spec.get("maximum")
    if kind == "integer":
        if "exclusiveMinimum" in spec:
            bound = spec["exclusiveMinimum"] + 1
            minimum = bound if minimum is None else max(minimum, bound)
        if "exclusiveMaximum" in spec:
            bound = spec["exclusiveMaximum"] - 1
            maximum = bound if maximum is None else min(maximum, bound)
    if minimum is not None:
        attrs["min"] = minimum
    if maximum is not None:
        attrs["max"] = maximum
    step = spec.get("multipleOf")
    # A browser counts steps from ``min``: the hint is right only when min is
    # itself a multiple of the step (or absent).
    if step and (minimum is None or float(minimum) % float(step) == 0):
        attrs["step"] = step
    else:
        attrs["step"] = "1" if kind == "integer" else "any"
    return attrs


def schema_field(name: str, spec: Mapping[str, Any], *, required: bool) -> forms.Field:
    """The form field for one property of the schema (coercion only, no rules)."""
    kind = spec.get("type")
    label = field_title(name, spec)
    description = str(spec.get("description") or "")
    attrs: dict[str, object] = {}
    if required:
        attrs["required"] = True
    examples = spec.get("examples")
    if isinstance(examples, list) and examples and kind in {"string", "integer", "number"}:
        attrs["placeholder"] = f"e.g. {examples[0]}"
    common: dict[str, Any] = {"label": label, "required": False, "help_text": description}

    if kind == "array":
        options = [_choice(value) for value in spec["items"]["enum"]]
        widget: forms.Widget
        if len(options) <= CHECKBOX_LIMIT:
            widget = forms.CheckboxSelectMultiple()
        else:
            widget = forms.SelectMultiple(attrs={"size": min(len(options), 8)})
        return forms.MultipleChoiceField(choices=options, widget=widget, **common)

    if kind == "boolean":
        return forms.BooleanField(widget=forms.CheckboxInput(), **common)

    if "enum" in spec:
        options = _options(spec)
        if "default" not in spec:
            options.insert(0, ("", _empty_label(spec, required=required)))
        if EXTENSION in spec:
            # A live choice that went away says so, as the API does.
            common["error_messages"] = {"invalid_choice": choice_message(dict(spec))}
        return forms.TypedChoiceField(
            choices=options,
            coerce=_coerce_for(str(kind)),
            empty_value=None,
            widget=forms.Select(attrs=attrs),
            **common,
        )

    if kind == "integer":
        attrs.update(_number_attrs(spec, "integer"))
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **common)

    if kind == "number":
        attrs.update(_number_attrs(spec, "number"))
        attrs["inputmode"] = "decimal"
        return forms.FloatField(widget=forms.NumberInput(attrs=attrs), **common)

    return _text_field(spec, attrs, common)


def _text_field(spec: Mapping[str, Any], attrs: dict[str, object], common: dict[str, Any]) -> forms.Field:
    """A string property's field: its widget follows its format (secret,
    long text, date, e-mail…)."""
    if "minLength" in spec:
        attrs["minlength"] = spec["minLength"]
    if "maxLength" in spec:
        attrs["maxlength"] = spec["maxLength"]
    # No ``pattern`` (nor a data attribute for a script to run it): the
    # browser's regular expressions backtrack, and no simple test tells a
    # safe pattern from one that freezes the orderer's tab for minutes
    # (``^(a|aa)*$`` nests no quantifier; ``^.*.*.*.*=$`` neither). ECMAScript
    # also reads some patterns RE2 accepts differently or not at all
    # (``(?i)``, ``[[:alpha:]]``), so the browser could refuse a valid value.
    # The server checks the pattern with RE2 at the review step, and puts the
    # same message next to the field; the example in the placeholder is the
    # hint before that.
    text_format = spec.get("format")
    if text_format in IDENTIFIER_FORMATS or "pattern" in spec:
        attrs.update({"spellcheck": "false", "autocapitalize": "off", "autocomplete": "off"})
    if spec.get("x-secret"):
        attrs["autocomplete"] = "new-password"
        return forms.CharField(
            strip=False, widget=forms.PasswordInput(attrs=attrs, render_value=False), **common
        )
    if spec.get("x-widget") == "textarea":
        rows = 6 if (spec.get("maxLength") or 0) > 500 else 4
        return forms.CharField(widget=forms.Textarea(attrs={**attrs, "rows": rows}), **common)
    widget: forms.Widget
    if text_format in DATE_FORMAT_TYPES:
        widget = forms.TextInput(attrs={**attrs, "type": DATE_FORMAT_TYPES[text_format]})
    elif text_format in TEXT_FORMAT_WIDGETS:
        widget = TEXT_FORMAT_WIDGETS[text_format](attrs=attrs)
    else:
        widget = forms.TextInput(attrs=attrs)
    return forms.CharField(widget=widget, **common)


def schema_initial(schema: Mapping[str, Any], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A form's initial values: ``values`` (an earlier order's, say) for the
    fields the form still has, the schema's defaults for the rest. Secrets
    are never filled in."""
    initial = {}
    values = values or {}
    for name, spec in (schema.get("properties") or {}).items():
        if not isinstance(spec, dict) or spec.get("x-secret"):
            continue
        if values.get(name) is not None:
            value = values[name]
        elif "default" in spec:
            value = spec["default"]
        else:
            continue
        initial[name] = [str(item) for item in value] if isinstance(value, list) else value
    return initial


class OrderForm(forms.Form):
    """The order form of one product, built from its JSON Schema.

    Field names are the schema's property names under the ``inputs`` prefix,
    so no property can collide with the page's own controls.
    """

    prefix = "inputs"

    def __init__(self, schema: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        self.properties: dict[str, dict] = {
            name: spec for name, spec in (schema.get("properties") or {}).items() if isinstance(spec, dict)
        }
        always_required = set(schema.get("required") or [])
        # Said "(required)" beside them; a conditional field too when every
        # branch that shows it requires it. Only the label: a browser's own
        # check would block the form on a field hidden while scripts are off.
        self.required_names = always_required | required_when_shown(dict(schema))
        self.secret_names = secret_fields(dict(schema))
        for name, spec in self.properties.items():
            self.fields[name] = schema_field(name, spec, required=name in always_required)

    @property
    def conditions_json(self) -> str:
        """The form's conditions for the page's script (``data-conditions``):
        which field shows when, and the types of the fields they test."""
        fields = browser_conditions(dict(self.schema))
        if not fields:
            return ""
        types = {name: spec.get("type") for name, spec in self.properties.items()}
        return json.dumps({"fields": fields, "types": types}, separators=(",", ":"))

    @cached_property
    def hidden_names(self) -> set[str]:
        """The fields a condition hides given the values the form holds now,
        hidden in the page before any script runs."""
        if self.is_bound:
            self.is_valid()
            values = self.inputs()
        else:
            values = {name: value for name, value in self.initial.items() if name in self.properties}
        return hidden_fields(dict(self.schema), values)

    def unavailable(self, name: str) -> str:
        """Why a live field has no choices to offer now (empty: it has)."""
        return str(self.properties.get(name, {}).get(UNAVAILABLE) or "")

    def description_html(self, name: str) -> str:
        """The property's description, whose Markdown (often `code`) is
        rendered sanitized like a product's description."""
        return render_markdown(str(self.properties[name].get("description") or ""))

    def inputs(self) -> dict[str, Any]:
        """The JSON inputs of the fields that converted (call after ``is_valid``).

        An empty text or number field is left out: the schema's default then
        applies, or, for a required one, the schema names it as missing.
        """
        cleaned = getattr(self, "cleaned_data", {})
        inputs: dict[str, Any] = {}
        for name, spec in self.properties.items():
            if name not in cleaned:
                continue
            value = cleaned[name]
            kind = spec.get("type")
            if kind == "boolean":
                inputs[name] = bool(value)
            elif kind == "array":
                # No box ticked means "none of them", not "the default".
                inputs[name] = list(value)
            elif value is not None and value != "":
                # "6" typed in a number field is 6, not 6.0, in the runbook's vars.
                if kind == "number" and isinstance(value, float) and value.is_integer():
                    value = int(value)
                inputs[name] = value
        return inputs

    def add_schema_errors(self, errors: Mapping[str, list[str]]) -> None:
        """Put validate_inputs' messages next to their fields; a field that
        already failed to convert keeps its own message only."""
        for name, messages in errors.items():
            target = name if name in self.fields else None
            if target and target in self.errors:
                continue
            for message in messages:
                self.add_error(target, message)

    def error_count(self) -> int:
        return sum(len(messages) for messages in self.errors.values())


def form_data(schema: dict, inputs: dict) -> QueryDict:
    """Inputs as the browser would post them, to show them in the form again
    (secrets left out: a password field is never filled in by the server)."""
    data = QueryDict(mutable=True)
    secrets = secret_fields(schema)
    for name, value in inputs.items():
        key = f"{OrderForm.prefix}-{name}"
        if name in secrets or value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, list):
            data.setlist(key, [str(item) for item in value])
        else:
            data[key] = str(value)
    return data


class BusinessUnitForm(forms.Form):
    """Which of their business units a member of several orders for (the
    placement checks the choice again: ``portal.consumption``)."""

    business_unit = forms.ChoiceField(
        label="Business unit",
        help_text="The order is charged to it and counts against its quotas.",
    )

    def __init__(self, units: Sequence[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["business_unit"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Choose a business unit"), *units]


class NoteForm(forms.Form):
    """The free text that goes with an action on an order (an approval
    comment, a rejection or failure reason, a completion note). Whether it
    may be empty is for the service to say."""

    note = forms.CharField(required=False, max_length=2000, strip=True)
    #: The approval step the page showed (a hidden field of the approve and
    #: reject forms): a decision made on a stale page is refused, not counted
    #: for a step its approver never saw.
    step = forms.IntegerField(required=False, min_value=0, max_value=1000)
    #: The status and claimant the page showed (``portal.orders.seen``): a
    #: claim, release, completion, failure or cancellation made on a stale
    #: page is refused, not applied to what the order has become.
    seen = forms.CharField(required=False, max_length=200)
    #: "Claim and complete": the person chose to claim the order as they close it.
    claim = forms.BooleanField(required=False)

    def clean_seen(self) -> Seen | None:
        try:
            return Seen.from_token(self.cleaned_data["seen"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


ORDER_STATUS_FILTERS = [
    ("", "All statuses"),
    ("open", "Open (not finished)"),
    *[(status.value, status.label) for status in OrderStatus],
]


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(choices=ORDER_STATUS_FILTERS, required=False, label="Status")

    def statuses(self) -> list[str] | None:
        """The statuses to show, or None for all (also for an unknown value)."""
        if not self.is_valid():
            return None
        chosen = self.cleaned_data["status"]
        if chosen == "open":
            return sorted(OPEN_STATUSES)
        return [chosen] if chosen else None


class CatalogueFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search the catalogue",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Search by name, squad or keyword", "autocomplete": "off"}
        ),
    )
    category = forms.ChoiceField(required=False, label="Category")
    squad = forms.ChoiceField(required=False, label="Squad")

    def __init__(
        self, *args: Any, categories: list[tuple[str, str]], squads: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        category, squad = self.fields["category"], self.fields["squad"]
        assert isinstance(category, forms.ChoiceField) and isinstance(squad, forms.ChoiceField)
        category.choices = [("", "All categories"), *categories]
        squad.choices = [("", "All squads"), *squads]

    def value(self, name: str) -> str:
        """A filter's value; an unknown category or squad counts as no filter."""
        if not self.is_bound:
            return ""
        self.is_valid()  # fills cleaned_data with every field that is valid
        return self.cleaned_data.get(name) or ""
