"""``group_mappings`` in the catalogue file: imported (created, a squad's role
updated, never removed), exported so that a round trip changes nothing, and
every mistake refused with its place in the file, importing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from portal.consumption.models import BusinessUnit
from portal.identity.models import GroupMapping
from tests.catalogue.catalogue_files import failed_import, line_of, run_import, variant
from tests.catalogue.test_export_catalogue import export_to
from tests.factories import SquadFactory

pytestmark = pytest.mark.django_db

MAPPINGS = """
business_units:
  - slug: finance
    name: Finance
group_mappings:
  - {group: net-engineers, squad: network, role: engineer}
  - {group: finance-staff, business_unit: finance}
  - {group: automators, chapter: automation}
"""


def catalogue(tmp_path: Path, mappings: str = MAPPINGS) -> Path:
    path = variant(tmp_path)
    path.write_text(path.read_text() + mappings)
    return path


def rows() -> list[tuple[str, str | None, str, str | None, str | None]]:
    return sorted(
        GroupMapping.objects.values_list(
            "group", "squad__slug", "role", "chapter__slug", "business_unit__slug"
        )
    )


def test_mappings_are_imported_naming_rows_of_the_file_and_a_reimport_changes_nothing(tmp_path: Path) -> None:
    path = catalogue(tmp_path)

    output = run_import(path)

    assert "group_mappings: 3 created, 0 updated, 0 unchanged" in output
    assert rows() == [
        ("automators", None, "", "automation", None),
        ("finance-staff", None, "", None, "finance"),
        ("net-engineers", "network", "engineer", None, None),
    ]
    before = list(GroupMapping.objects.order_by("pk").values())
    assert "group_mappings: 0 created, 0 updated, 3 unchanged" in run_import(path)
    assert list(GroupMapping.objects.order_by("pk").values()) == before


def test_a_changed_role_is_updated_and_mappings_left_out_stay(tmp_path: Path) -> None:
    run_import(catalogue(tmp_path / "a"))
    changed = MAPPINGS.replace("role: engineer", "role: sme").replace(
        "  - {group: automators, chapter: automation}\n", ""
    )

    output = run_import(catalogue(tmp_path / "b", changed))

    assert "group_mappings: 0 created, 1 updated, 1 unchanged" in output
    assert ("net-engineers", "network", "sme", None, None) in rows()
    assert len(rows()) == 3  # an import never removes one: the admin does


def test_a_mapping_may_name_a_squad_of_the_database(tmp_path: Path) -> None:
    SquadFactory(slug="storage")
    mappings = "group_mappings:\n  - {group: storage-people, squad: storage, role: product_owner}\n"

    run_import(catalogue(tmp_path, mappings))

    assert rows() == [("storage-people", "storage", "product_owner", None, None)]


def test_export_writes_the_mappings_and_a_round_trip_changes_nothing(tmp_path: Path) -> None:
    run_import(catalogue(tmp_path))

    exported = export_to(tmp_path / "out" / "catalogue.yaml")

    assert yaml.safe_load(exported)["group_mappings"] == [
        {"group": "automators", "chapter": "automation"},
        {"group": "finance-staff", "business_unit": "finance"},
        {"group": "net-engineers", "squad": "network", "role": "engineer"},
    ]
    GroupMapping.objects.all().delete()
    run_import(tmp_path / "out" / "catalogue.yaml")
    assert export_to(tmp_path / "again" / "catalogue.yaml") == exported


MISTAKES = [
    (
        "{group: net-engineers, squad: network, role: engineer}",
        "{group: net-engineers, squad: nowhere, role: engineer}",
        "[1].squad",
        "unknown squad 'nowhere' (not in this file nor in the database)",
    ),
    (
        "{group: finance-staff, business_unit: finance}",
        "{group: finance-staff, business_unit: treasury}",
        "[2].business_unit",
        "unknown business unit 'treasury' (not in this file nor in the database)",
    ),
    (
        "{group: automators, chapter: automation}",
        "{group: automators, chapter: wizards}",
        "[3].chapter",
        "unknown chapter 'wizards' (not in this file nor in the database)",
    ),
    (
        "{group: net-engineers, squad: network, role: engineer}",
        "{group: net-engineers, squad: network, role: wizard}",
        "[1].role",
        "unknown role 'wizard'; use one of",
    ),
    (
        "{group: net-engineers, squad: network, role: engineer}",
        "{group: net-engineers, squad: network}",
        "[1].role",
        "required key is missing",
    ),
    (
        "{group: automators, chapter: automation}",
        "{group: automators, chapter: automation, role: engineer}",
        "[3].role",
        "only a squad's mapping has a role",
    ),
    (
        "{group: automators, chapter: automation}",
        "{group: automators, chapter: automation, squad: network}",
        "[3]",
        "a mapping grants exactly one of: squad (with its role), chapter, business_unit",
    ),
    (
        "{group: automators, chapter: automation}",
        "{group: Net-Engineers, squad: network, role: sme}",
        "[3]",
        "the same mapping twice: already at line",
    ),
    (
        "{group: automators, chapter: automation}",
        "{group: automators, chapter: automation, team: x}",
        "[3]",
        "team",
    ),
]


@pytest.mark.parametrize(("old", "new", "path", "message"), MISTAKES)
def test_a_mistake_is_refused_at_its_place_and_nothing_is_imported(
    tmp_path: Path, old: str, new: str, path: str, message: str
) -> None:
    mappings = MAPPINGS.replace(old, new)
    assert mappings != MAPPINGS
    file = catalogue(tmp_path, mappings)

    errors = failed_import(file)

    # The first entry is the business unit's: mappings count from the list's start.
    index = int(path[1]) - 1
    where = f"group_mappings[{index}]{path[3:]}"
    assert f"catalogue.yaml:{line_of(file, new)}: {where}" in errors, errors
    assert message in errors, errors
    assert not GroupMapping.objects.exists()
    assert not BusinessUnit.objects.exists()
