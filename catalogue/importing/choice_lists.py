"""``choice_lists`` in the catalogue file: the lists squads curate for their
forms (``x-choices-from: {squad_list: <slug>}``), a section of the import
and the export (``catalogue.importing.sections``) registered by the
catalogue app itself.

    choice_lists:
      - slug: firewall-zones
        name: Firewall zones
        squad: network
        items:
          - {value: dmz, label: DMZ}
          - internal            # a bare text: value and label alike

Upsert by slug; a list's items become exactly the file's. Its resolve
stage also checks what the file's forms name in ``x-choices-from``: a list
or an instance product in neither the file nor the database is refused
with the place of the field in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalogue.dynamic_choices import MAX_CHOICES, reference_problems
from catalogue.importing.errors import describe
from catalogue.importing.sections import Located
from catalogue.importing.specs import CREATED, UNCHANGED, UPDATED, DocPath, ExistingRows, ParsedFile, PlanStep
from catalogue.importing.values import EntryReader, model_field
from catalogue.models import ChoiceItem, ChoiceList
from squads.models import Squad

KEY = "choice_lists"
LIST_KEYS = ("slug", "name", "squad", "description", "items")
ITEM_KEYS = ("value", "label")


@dataclass
class ListSpec:
    where: DocPath
    slug: str
    squad: str
    values: dict[str, str]
    items: list[tuple[str, str]]


@dataclass
class Parsed:
    lists: list[ListSpec] = field(default_factory=list)
    rows: dict[str, ChoiceList] = field(default_factory=dict)
    squads: dict[str, Squad] = field(default_factory=dict)


class ChoiceListsSection:
    key = KEY
    kinds = {"choice_lists": "choice list"}

    # --- parse ---

    def parse(self, value: object, where: DocPath, reader: EntryReader, parsed: ParsedFile) -> None:
        state = Parsed()
        parsed.sections[KEY] = state
        seen: dict[str, DocPath] = {}
        for here, item in reader.mappings(value, where):
            if not reader.first_definition(seen, item, here):
                continue
            spec = self._list(item, here, reader)
            if spec is not None:
                state.lists.append(spec)

    def _list(self, entry: dict, where: DocPath, reader: EntryReader) -> ListSpec | None:
        before = len(reader.log.errors)
        reader.check_keys(entry, where, LIST_KEYS)
        slug = reader.text(entry, where, "slug", model_field(ChoiceList, "slug"), required=True)
        name = reader.text(entry, where, "name", model_field(ChoiceList, "name"), required=True)
        squad = reader.text(entry, where, "squad", model_field(Squad, "slug"), required=True)
        description = reader.text(entry, where, "description", model_field(ChoiceList, "description"))
        items = self._items(entry, where, reader)
        if len(reader.log.errors) != before or not slug or not name or not squad or description is None:
            return None
        return ListSpec(where, slug, squad, {"name": name, "description": description}, items)

    def _items(self, entry: dict, where: DocPath, reader: EntryReader) -> list[tuple[str, str]]:
        value = entry.get("items")
        here = (*where, "items")
        if not isinstance(value, list) or not value:
            reader.log.error(here, f"must be a non-empty list of options, not {describe(value)}")
            return []
        if len(value) > MAX_CHOICES:
            # Every form choosing from it lists them all, other squads' too.
            reader.log.error(here, f"has {len(value):,} options; a list has at most {MAX_CHOICES:,}")
            return []
        items: list[tuple[str, str]] = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            at = (*here, index)
            if isinstance(item, str):
                item = {"value": item}
            if not isinstance(item, dict):
                reader.log.error(at, f"must be a text or {{value, label}}, not {describe(item)}")
                continue
            reader.check_keys(item, at, ITEM_KEYS)
            option = reader.text(item, at, "value", model_field(ChoiceItem, "value"), required=True)
            label = reader.text(item, at, "label", model_field(ChoiceItem, "label"))
            if not option or label is None:
                continue
            if option in seen:
                reader.log.error((*at, "value"), f"the value {option!r} is listed twice")
                continue
            seen.add(option)
            items.append((option, label))
        return items

    # --- resolve ---

    def resolve(self, parsed: ParsedFile, rows: ExistingRows, reader: EntryReader) -> None:
        state: Parsed = parsed.sections.get(KEY) or Parsed()
        parsed.sections.setdefault(KEY, state)
        state.rows = ChoiceList.objects.prefetch_related("items").in_bulk(
            [spec.slug for spec in state.lists], field_name="slug"
        )
        named = {spec.squad for spec in state.lists}
        state.squads = {**Squad.objects.in_bulk(named, field_name="slug"), **rows.squad_rows}
        declared_squads = parsed.declared.get("squads", {}).keys()
        for spec in state.lists:
            if spec.squad not in state.squads and spec.squad not in declared_squads:
                reader.log.error((*spec.where, "squad"), f"unknown squad {spec.squad!r}")
        self._check_forms(parsed, state, reader)

    def _check_forms(self, parsed: ParsedFile, state: Parsed, reader: EntryReader) -> None:
        """What the file's forms name in ``x-choices-from``, against the file and the database."""
        lists = {spec.slug for spec in state.lists}
        products = {spec.slug for spec in parsed.products if spec.values.get("instance")}
        for product in parsed.products:
            forms: list[tuple[DocPath, Any]] = [((*product.where, "form"), product.values.get("form_schema"))]
            forms.extend(
                ((*operation.where, "form"), operation.values.get("form_schema"))
                for operation in product.operations
            )
            for where, form in forms:
                for path, message in reference_problems(form, products=products, lists=lists):
                    reader.log.error((*where, *path), message)

    # --- plan ---

    def plan(self, parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
        state: Parsed | None = parsed.sections.get(KEY)
        if state is None:
            return []
        steps = []
        for spec in state.lists:
            row = state.rows.get(spec.slug)
            if row is None:
                steps.append(PlanStep("choice_lists", spec.slug, CREATED, [], spec, None))
                continue
            fields = [name for name, value in spec.values.items() if getattr(row, name) != value]
            if row.squad.slug != spec.squad:
                fields.append("squad")
            stored = [(item.value, item.label) for item in row.items.all()]
            if stored != spec.items:
                fields.append("items")
            steps.append(
                PlanStep("choice_lists", spec.slug, UPDATED if fields else UNCHANGED, fields, spec, row)
            )
        return steps

    # --- write ---

    def write(self, steps: list[PlanStep], rows: ExistingRows, located: Located) -> None:
        for step in steps:
            if step.action == UNCHANGED:
                continue
            spec: ListSpec = step.spec
            squad = rows.squad_rows.get(spec.squad) or Squad.objects.get(slug=spec.squad)
            row: ChoiceList = step.row or ChoiceList(slug=spec.slug)
            row.squad = squad
            for name, value in spec.values.items():
                setattr(row, name, value)
            with located(spec.where):
                row.full_clean()
            row.save()
            if step.action == UPDATED and "items" not in step.fields:
                continue  # only the list's own fields changed: its options stay (and stay off the trail)
            row.items.all().delete()
            for position, (value, label) in enumerate(spec.items):
                item = ChoiceItem(choice_list=row, value=value, label=label, position=position)
                with located((*spec.where, "items", position)):
                    item.full_clean()
                item.save()

    # --- export ---

    def export(self) -> list[dict[str, Any]]:
        return [
            _exported(row)
            for row in ChoiceList.objects.select_related("squad").prefetch_related("items").order_by("slug")
        ]


def _exported(row: ChoiceList) -> dict[str, Any]:
    entry: dict[str, Any] = {"slug": row.slug, "name": row.name, "squad": row.squad.slug}
    if row.description:
        entry["description"] = row.description
    entry["items"] = [
        {"value": item.value, "label": item.label} if item.label else item.value for item in row.items.all()
    ]
    return entry
