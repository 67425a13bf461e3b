"""``group_mappings`` in the catalogue file (DESIGN.md, "Identity"): a section
of the import and the export (``catalogue.importing.sections``), registered
by ``portal.apps`` after the business units, whose rows it may name.

    group_mappings:
      - {group: net-engineers, squad: network, role: engineer}
      - {group: dbas, chapter: dba}
      - {group: finance-staff, business_unit: finance}

A mapping is known by its group and what it grants: the file's are created,
a squad's role updated, and none is ever removed by an import (the admin
deletes them). Refused, with the place in the file: a squad, chapter or
business unit in neither the file nor the database, an unknown role, a
squad without its role (or a role without a squad), none or several of
squad, chapter and business unit, and the same mapping twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalogue.importing.sections import Located
from catalogue.importing.specs import CREATED, UNCHANGED, UPDATED, DocPath, ExistingRows, ParsedFile, PlanStep
from catalogue.importing.values import EntryReader, model_field
from portal.consumption.models import BusinessUnit
from portal.identity.mapping import group_mapping_save
from portal.identity.models import GroupMapping
from squads.choices import Role
from squads.models import Chapter, Squad

KEY = "group_mappings"
MAPPING_KEYS = ("group", "squad", "role", "chapter", "business_unit")
TARGETS = ("squad", "chapter", "business_unit")


@dataclass
class MappingSpec:
    where: DocPath
    group: str
    target: str  # squad, chapter or business_unit
    slug: str
    role: str

    def key(self) -> tuple[str, str, str]:
        return (self.group.casefold(), self.target, self.slug)

    def label(self) -> str:
        shown = self.target.replace("_", " ")
        return f"{self.group} → {shown} {self.slug}" + (f" as {self.role}" if self.role else "")


@dataclass
class Parsed:
    mappings: list[MappingSpec] = field(default_factory=list)
    rows: dict[tuple[str, str, str], GroupMapping] = field(default_factory=dict)


def _key_of(mapping: GroupMapping) -> tuple[str, str, str]:
    if mapping.squad is not None:
        return (mapping.group.casefold(), "squad", mapping.squad.slug)
    if mapping.chapter is not None:
        return (mapping.group.casefold(), "chapter", mapping.chapter.slug)
    assert mapping.business_unit is not None  # the model's check constraint
    return (mapping.group.casefold(), "business_unit", mapping.business_unit.slug)


class GroupMappingsSection:
    key = KEY
    kinds = {"group_mappings": "group mapping"}

    def parse(self, value: object, where: DocPath, reader: EntryReader, parsed: ParsedFile) -> None:
        state = Parsed()
        parsed.sections[KEY] = state
        seen: dict[tuple[str, str, str], DocPath] = {}
        for here, item in reader.mappings(value, where):
            spec = self._mapping(item, here, reader)
            if spec is None:
                continue
            if spec.key() in seen:
                first = reader.log.where_defined(seen[spec.key()])
                reader.log.error(here, f"the same mapping twice: already at {first}")
                continue
            seen[spec.key()] = here
            state.mappings.append(spec)

    def _mapping(self, item: dict, where: DocPath, reader: EntryReader) -> MappingSpec | None:
        before = len(reader.log.errors)
        reader.check_keys(item, where, MAPPING_KEYS)
        group = reader.text(item, where, "group", model_field(GroupMapping, "group"), required=True)
        named = [target for target in TARGETS if item.get(target) is not None]
        if len(named) != 1:
            reader.log.error(
                where,
                "a mapping grants exactly one of: squad (with its role), chapter, business_unit"
                + (f"; this one names {', '.join(named)}" if named else ""),
            )
            return None
        (target,) = named
        slug_field = {
            "squad": (Squad, "slug"),
            "chapter": (Chapter, "slug"),
            "business_unit": (BusinessUnit, "slug"),
        }
        slug = reader.text(item, where, target, model_field(*slug_field[target]), required=True)
        role = ""
        if target == "squad":
            role = reader.choice(item, where, "role", Role) or ""
        elif item.get("role") is not None:
            reader.log.error((*where, "role"), "only a squad's mapping has a role")
        if len(reader.log.errors) != before or not group or not slug:
            return None
        return MappingSpec(where, group, target, slug, role)

    def resolve(self, parsed: ParsedFile, rows: ExistingRows, reader: EntryReader) -> None:
        state: Parsed | None = parsed.sections.get(KEY)
        if state is None or not state.mappings:
            return
        in_file = {
            "squad": set(parsed.declared["squads"]),
            "chapter": set(parsed.declared["chapters"]),
            "business_unit": {
                unit.slug for unit in getattr(parsed.sections.get("business_units"), "units", [])
            },
        }
        models: dict[str, Any] = {"squad": Squad, "chapter": Chapter, "business_unit": BusinessUnit}
        named: dict[str, set[str]] = {target: set() for target in TARGETS}
        for spec in state.mappings:
            named[spec.target].add(spec.slug)
        in_database = {
            target: set(models[target].objects.filter(slug__in=slugs).values_list("slug", flat=True))
            for target, slugs in named.items()
        }
        for spec in state.mappings:
            if spec.slug not in in_file[spec.target] | in_database[spec.target]:
                shown = spec.target.replace("_", " ")
                reader.log.error(
                    (*spec.where, spec.target),
                    f"unknown {shown} {spec.slug!r} (not in this file nor in the database)",
                )
        existing = GroupMapping.objects.select_related("squad", "chapter", "business_unit")
        state.rows = {_key_of(mapping): mapping for mapping in existing}

    def plan(self, parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
        state: Parsed | None = parsed.sections.get(KEY)
        if state is None:
            return []
        steps = []
        for spec in state.mappings:
            row = state.rows.get(spec.key())
            if row is None:
                steps.append(PlanStep(KEY, spec.label(), CREATED, [], spec, None))
            elif row.role != spec.role:
                steps.append(PlanStep(KEY, spec.label(), UPDATED, ["role"], spec, row))
            else:
                steps.append(PlanStep(KEY, spec.label(), UNCHANGED, [], spec, row))
        return steps

    def write(self, steps: list[PlanStep], rows: ExistingRows, located: Located) -> None:
        for step in steps:
            if step.action == UNCHANGED:
                continue
            spec: MappingSpec = step.spec
            with located(spec.where):
                targets: dict[str, Any] = {}
                if spec.target == "squad":
                    targets["squad"] = Squad.objects.get(slug=spec.slug)
                elif spec.target == "chapter":
                    targets["chapter"] = Chapter.objects.get(slug=spec.slug)
                else:
                    targets["business_unit"] = BusinessUnit.objects.get(slug=spec.slug)
                group_mapping_save(mapping=step.row, group=spec.group, role=spec.role, **targets)

    def export(self) -> list[dict[str, Any]]:
        exported = []
        for mapping in GroupMapping.objects.select_related("squad", "chapter", "business_unit"):
            _, target, slug = _key_of(mapping)
            entry: dict[str, Any] = {"group": mapping.group, target: slug}
            if mapping.role:
                entry["role"] = mapping.role
            exported.append(entry)
        return sorted(exported, key=lambda entry: (entry["group"], _key_of_entry(entry)))


def _key_of_entry(entry: dict[str, Any]) -> tuple[str, str]:
    target = next(target for target in TARGETS if target in entry)
    return (target, entry[target])
