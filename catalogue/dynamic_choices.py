"""Dynamic choices: a form field whose options are read when the form is
shown and checked again when the order is placed.

``x-choices-from`` on a property names where its options come from:

- ``{instances: <product slug>}``: the requester's own active instances of
  that product (an integer field; the value is the instance id). The
  instances live in the portal, above the catalogue: the portal registers a
  provider here when it is ready (``instance_choices_register``).
- ``{squad_list: <slug>}``: a ``ChoiceList`` a squad curates (a text field).
- ``{url: https://...}``: a JSON list fetched by the server (a text field):
  ``["a", "b"]`` or ``[{"value": "a", "label": "A"}]``. Only hosts in
  ``SQUADRON_CHOICES_URL_HOSTS``, through the same SSRF guard as webhooks
  (registered by ``portal.integrations``), with a timeout, cached.

``live_schema`` turns a curated form into the one a given person sees:
each such field gets the ``enum`` of its current values and their labels
(``x-choice-labels``), or an empty ``enum`` and ``x-choices-unavailable``
when its source cannot answer, so no value passes until it does. The
browser form, the API and the placement all validate against it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

EXTENSION = "x-choices-from"
LABELS = "x-choice-labels"
UNAVAILABLE = "x-choices-unavailable"
SOURCES = {"instances": "integer", "squad_list": "string", "url": "string"}
#: Bounds of what a URL source may answer: a select list, not a data dump.
MAX_URL_BYTES = 256 * 1024
MAX_CHOICES = 1000
MAX_TEXT = 200

Problem = tuple[tuple[str | int, ...], str]


@dataclass(frozen=True)
class Choice:
    value: str | int
    label: str


class ChoicesUnavailable(Exception):
    """A source that cannot say its choices now (a URL source down)."""


class UrlGuard(Protocol):
    """How the catalogue reaches a URL source (``portal.integrations``
    registers the webhooks' SSRF guard and pinned connection)."""

    def problem(self, url: str) -> str | None: ...

    def get(self, url: str, *, timeout: float, limit: int) -> bytes: ...


InstanceChoices = Callable[[Any, str], list[Choice]]

_instance_provider: dict[str, InstanceChoices] = {}
_url_guard: dict[str, UrlGuard] = {}


def instance_choices_register(provider: InstanceChoices) -> None:
    """``provider(user, product_slug)``: the user's active instances of that product."""
    _instance_provider["provider"] = provider


def url_guard_register(guard: UrlGuard) -> None:
    _url_guard["guard"] = guard


def dynamic_fields(schema: object) -> dict[str, dict]:
    """The form's properties with an ``x-choices-from`` (name: its mapping)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {
        name: spec[EXTENSION]
        for name, spec in properties.items()
        if isinstance(spec, dict) and isinstance(spec.get(EXTENSION), dict)
    }


# --- Curation ----------------------------------------------------------------------


def allowed_hosts() -> set[str]:
    hosts = getattr(settings, "SQUADRON_CHOICES_URL_HOSTS", [])
    return {host.lower() for host in hosts}


def extension_problems(name: str, spec: dict, here: tuple[str | int, ...]) -> list[Problem]:
    """Why a property's ``x-choices-from`` cannot be used (its shape, its
    type, a URL outside the allow-list); the database is not read here."""
    where = (*here, EXTENSION)
    source = spec[EXTENSION]
    shape = "x-choices-from is {instances: <product>}, {squad_list: <list>} or {url: <https URL>}"
    if not isinstance(source, dict) or len(source) != 1 or next(iter(source)) not in SOURCES:
        return [(where, f"property {name!r}: {shape}")]
    kind, value = next(iter(source.items()))
    if not isinstance(value, str) or not value.strip():
        return [((*where, kind), f"property {name!r}: {kind} names a {'URL' if kind == 'url' else 'slug'}")]
    problems: list[Problem] = []
    if spec.get("type") != SOURCES[kind]:
        problems.append(
            ((*here, "type"), f"property {name!r}: choices from {kind} need type {SOURCES[kind]}")
        )
    for keyword in ("enum", "default"):
        if keyword in spec:
            problems.append(
                (
                    (*here, keyword),
                    f"property {name!r}: {keyword} cannot go with x-choices-from (they are live)",
                )
            )
    if kind == "url":
        problem = url_problem(value)
        if problem:
            problems.append(((*where, "url"), f"property {name!r}: {problem}"))
    return problems


def url_problem(url: str) -> str | None:
    """Why the server may not fetch choices from ``url``, or None."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        return f"{url!r} is not a valid URL ({error})"
    if parts.scheme not in ("http", "https"):
        return "a choices URL starts with https:// (or http://)"
    host = (parts.hostname or "").lower()
    hosts = allowed_hosts()
    if host not in hosts:
        allowed = ", ".join(sorted(hosts)) or "none (SQUADRON_CHOICES_URL_HOSTS is empty)"
        return f"{host or 'this URL'} is not a host choices may be fetched from; allowed: {allowed}"
    guard = _url_guard.get("guard")
    if guard is None:
        return "choices cannot be fetched from URLs here (no guard is registered)"
    problem = guard.problem(url)
    return problem.rstrip(".") if problem else None


#: Set while a catalogue file is written: its resolve stage checked the
#: references against the file and the database, and a list or product the
#: file defines may be written after the form that names it.
_references_checked: ContextVar[bool] = ContextVar("references_checked", default=False)


@contextmanager
def references_checked() -> Iterator[None]:
    token = _references_checked.set(True)
    try:
        yield
    finally:
        _references_checked.reset(token)


def reference_problems(
    schema: object, *, products: set[str] | None = None, lists: set[str] | None = None
) -> list[Problem]:
    """The instance products and squad lists the form names that do not
    exist. ``products`` and ``lists`` add slugs not in the database yet (a
    catalogue file being imported); products must make instances."""
    if _references_checked.get() and products is None and lists is None:
        return []
    # By name: the models import this module (through ``catalogue.schema``).
    Product, ChoiceList = apps.get_model("catalogue", "Product"), apps.get_model("catalogue", "ChoiceList")
    problems: list[Problem] = []
    for name, source in dynamic_fields(schema).items():
        where: tuple[str | int, ...] = ("properties", name, EXTENSION)
        if isinstance(source.get("instances"), str):
            slug = source["instances"]
            known = slug in (products or set()) or Product.objects.filter(slug=slug, instance=True).exists()
            if not known:
                problems.append(
                    ((*where, "instances"), f"property {name!r}: no product {slug!r} that creates instances")
                )
        if isinstance(source.get("squad_list"), str):
            slug = source["squad_list"]
            if slug not in (lists or set()) and not ChoiceList.objects.filter(slug=slug).exists():
                problems.append(((*where, "squad_list"), f"property {name!r}: no choice list {slug!r}"))
    return problems


@dataclass(frozen=True)
class ListUse:
    """A form field that takes its choices from a squad's list: what a list
    cannot lose (deleted or renamed, every order of that form would fail)."""

    list_slug: str
    form: str
    field: str

    def __str__(self) -> str:
        return f"{self.form}: field {self.field!r} chooses from {self.list_slug!r}"


def forms_naming_lists(slugs: Collection[str]) -> list[ListUse]:
    """The product and operation forms whose fields take their choices from
    any of the lists ``slugs`` (``squad_list``), products first, by slug."""
    wanted = set(slugs)
    if not wanted:
        return []
    Product, Operation = apps.get_model("catalogue", "Product"), apps.get_model("catalogue", "Operation")
    forms: list[tuple[str, object]] = [
        (f"product {product.name!r} ({product.slug}) of {product.squad.name}", product.form_schema)
        for product in Product.objects.select_related("squad")
        .only("slug", "name", "form_schema", "squad__name")
        .order_by("slug")
    ]
    forms.extend(
        (
            f"operation {operation.name!r} ({operation.slug}) of product {operation.product.name!r} "
            f"({operation.product.slug}) of {operation.product.squad.name}",
            operation.form_schema,
        )
        for operation in Operation.objects.select_related("product__squad")
        .only("slug", "name", "form_schema", "product__slug", "product__name", "product__squad__name")
        .order_by("product__slug", "position", "slug")
    )
    return [
        ListUse(source["squad_list"], form, name)
        for form, schema in forms
        for name, source in dynamic_fields(schema).items()
        if isinstance(source.get("squad_list"), str) and source["squad_list"] in wanted
    ]


# --- At order time -----------------------------------------------------------------


def choices_for(source: dict, user: Any) -> list[Choice]:
    """The current options of one source for ``user``; ChoicesUnavailable when
    it cannot say."""
    if "instances" in source:
        provider = _instance_provider.get("provider")
        if provider is None:
            raise ChoicesUnavailable("The instances to choose from cannot be listed here.")
        return provider(user, source["instances"])
    if "squad_list" in source:
        items = list(
            apps.get_model("catalogue", "ChoiceItem")
            .objects.filter(choice_list__slug=source["squad_list"])
            .order_by("position", "label")[: MAX_CHOICES + 1]
        )
        if len(items) > MAX_CHOICES:
            # Curation keeps a list under the cap; one stored before it was
            # set must not make every page showing the form list them all.
            raise ChoicesUnavailable(
                f"The list {source['squad_list']!r} has more than {MAX_CHOICES:,} options: "
                "its squad must shorten it."
            )
        return [Choice(item.value, item.label or item.value) for item in items]
    if "url" in source:
        return _url_choices(str(source["url"]))
    raise ChoicesUnavailable("This field's choices have an unknown source.")


def _cache_key(url: str) -> str:
    return "choices-url:" + hashlib.sha256(url.encode()).hexdigest()


def _url_choices(url: str) -> list[Choice]:
    """A URL source's choices, from the cache while they are fresh. A source
    that does not answer is unavailable: no older answer is used."""
    cached = cache.get(_cache_key(url))
    if isinstance(cached, list):
        try:
            return [Choice(str(item[0]), str(item[1])) for item in cached]
        except (IndexError, TypeError):
            pass  # someone else's value under our key: fetch again
    problem = url_problem(url)
    guard = _url_guard.get("guard")
    if problem or guard is None:
        raise ChoicesUnavailable(f"The choices could not be loaded: {problem or 'no guard registered'}.")
    try:
        body = guard.get(url, timeout=settings.SQUADRON_CHOICES_URL_TIMEOUT_SECONDS, limit=MAX_URL_BYTES)
        choices = parse_url_answer(body)
    except ChoicesUnavailable as error:
        logger.warning("choices from %s unavailable: %s", url, error)
        raise
    cache.set(
        _cache_key(url),
        [[choice.value, choice.label] for choice in choices],
        settings.SQUADRON_CHOICES_URL_CACHE_SECONDS,
    )
    return choices


def parse_url_answer(body: bytes) -> list[Choice]:
    """The choices in a URL source's answer; ChoicesUnavailable when it is not
    a JSON list of texts or of ``{value, label}``."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ChoicesUnavailable("The choices could not be loaded: the source did not answer JSON.") from None
    if not isinstance(data, list) or len(data) > MAX_CHOICES:
        raise ChoicesUnavailable(
            f"The choices could not be loaded: the source must answer a list of at most {MAX_CHOICES}."
        )
    choices: list[Choice] = []
    for item in data:
        value, label = (
            (item.get("value"), item.get("label", item.get("value")))
            if isinstance(item, dict)
            else (item, item)
        )
        if not isinstance(value, str) or not isinstance(label, str) or not value or len(value) > MAX_TEXT:
            raise ChoicesUnavailable(
                "The choices could not be loaded: each choice is a text or {value, label} (texts)."
            )
        choices.append(Choice(value, label[:MAX_TEXT]))
    return choices


def live_schema(schema: dict, user: Any) -> dict:
    """``schema`` with each dynamic field's current options as its ``enum``
    (and labels), for ``user``. Unchanged when it has none."""
    fields = dynamic_fields(schema)
    if not fields:
        return schema
    live = copy.deepcopy(schema)
    for name, source in fields.items():
        spec = live["properties"][name]
        try:
            choices = choices_for(source, user)
        except ChoicesUnavailable as error:
            spec["enum"] = []
            spec[LABELS] = []
            spec[UNAVAILABLE] = str(error)
            continue
        spec["enum"] = [choice.value for choice in choices]
        spec[LABELS] = [choice.label for choice in choices]
    return live


def choice_message(spec: dict) -> str:
    """What to say of a value not among a live field's options."""
    unavailable = spec.get(UNAVAILABLE)
    if unavailable:
        return f"{unavailable} The order cannot be placed until they load; try again later."
    return "This choice is not available (any more): choose one of the current options."
