"""import_catalogue with a bad file: it is refused whole, nothing is
written, and every error is named at its file:line with its path."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.models import Product
from squads.models import Squad
from tests.catalogue.catalogue_files import (
    INVALID_DIR,
    VALID,
    counts,
    failed_import,
    line_of,
    run_import,
    snapshot,
    variant,
)
from tests.factories import (
    CategoryFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
)

pytestmark = pytest.mark.django_db


BAD_FILES = [
    # (id, replacements, path reported, text of its line, part of the message)
    (
        "unknown-runbook",
        [("runbook: create-vlan", "runbook: create-vlna")],
        "products[1].runbook",
        "runbook: create-vlna",
        "unknown runbook 'create-vlna'",
    ),
    (
        "unknown-squad",
        [("squad: compute\n    playbook", "squad: storage\n    playbook")],
        "runbooks[1].squad",
        "squad: storage",
        "unknown squad 'storage'",
    ),
    (
        "unknown-dependency",
        [("depends_on: [vlan]", "depends_on: [vlam]")],
        "products[2].depends_on[0]",
        "depends_on: [vlam]",
        "unknown product 'vlam'",
    ),
    (
        "self-dependency",
        [("depends_on: [vlan]", "depends_on: [vm]")],
        "products[2].depends_on[0]",
        "depends_on: [vm]",
        "cannot depend on itself",
    ),
    (
        "runbook-of-another-squad",
        [("runbook: create-vm", "runbook: create-vlan  # of network")],
        "products[2].runbook",
        "# of network",
        "belongs to squad 'network'",
    ),
    (
        "missing-playbook",
        [("playbooks/create_vm.yml", "playbooks/nowhere.yml")],
        "runbooks[1].playbook",
        "nowhere.yml",
        "'playbooks/nowhere.yml' does not exist",
    ),
    (
        "absolute-playbook-path",
        [("playbooks/create_vm.yml", "/etc/passwd")],
        "runbooks[1].playbook",
        "/etc/passwd",
        "must be a path relative to the catalogue file",
    ),
    (
        "playbook-not-plays",
        [("playbooks/create_vm.yml", "playbooks/not_a_play.yml")],
        "runbooks[1].playbook",
        "not_a_play.yml",
        "Item 1 of the playbook is not a play",
    ),
    (
        "playbook-bad-yaml",
        [("playbooks/create_vm.yml", "playbooks/broken_yaml.yml")],
        "runbooks[1].playbook",
        "broken_yaml.yml",
        "The playbook is not valid YAML at line",
    ),
    (
        "form-unsupported-type",
        [("{type: integer, minimum: 2", "{type: int, minimum: 2")],
        "products[1].form.properties.vlan_id.type",
        "vlan_id: {type: int",
        "unsupported type 'int'",
    ),
    (
        "form-crossed-bounds",
        [("minimum: 2, maximum: 4094", "minimum: 4094, maximum: 2")],
        "products[1].form.properties.vlan_id.minimum",
        "minimum: 4094",
        "minimum 4094 is above maximum 2: no value fits",
    ),
    (
        "form-not-json",
        [("title: VLAN ID}", "title: 2024-01-01}")],
        "products[1].form.properties.vlan_id.title",
        "title: 2024-01-01",
        "is not a JSON value",
    ),
    (
        "unknown-role",
        [("role: product_owner", "role: owner")],
        "squads[0].members[0].role",
        "role: owner",
        "unknown role 'owner'",
    ),
    (
        "invalid-username",
        [("{username: otto,", "{username: otto the great,")],
        "squads[1].members[0].username",
        "otto the great",
        "Enter a valid username",
    ),
    (
        "bad-fulfilment",
        [("fulfilment: manual", "fulfilment: by-hand")],
        "products[0].fulfilment",
        "by-hand",
        "unknown fulfilment 'by-hand'",
    ),
    (
        "bad-approval",
        [("approval: squad", "approval: everyone")],
        "products[0].approval",
        "everyone",
        "unknown approval 'everyone'",
    ),
    (
        "bad-status",
        [("    sla_minutes: 60\n", "    sla_minutes: 60\n    status: live\n")],
        "products[2].status",
        "status: live",
        "unknown status 'live'",
    ),
    (
        "zero-timeout",
        [("timeout: 600", "timeout: 0")],
        "runbooks[0].timeout",
        "timeout: 0",
        "must be a positive whole number",
    ),
    (
        "timeout-too-long",
        [("timeout: 600", "timeout: 90000")],
        "runbooks[0].timeout",
        "timeout: 90000",
        "less than or equal to 86400",
    ),
    (
        "negative-sla",
        [("sla_minutes: 30", "sla_minutes: -5")],
        "products[1].sla_minutes",
        "sla_minutes: -5",
        "must be a positive whole number",
    ),
    (
        "timeout-not-a-number",
        [("timeout: 1200", "timeout: twenty")],
        "runbooks[1].timeout",
        "timeout: twenty",
        "must be a whole number",
    ),
    (
        "bad-queue",
        [("queue: compute", "queue: compute queue")],
        "runbooks[1].queue",
        "queue: compute queue",
        "A queue name uses letters",
    ),
    (
        "queue-of-another-squad",
        [("queue: compute", "queue: network")],
        "runbooks[1].queue",
        "queue: network",
        "runs on the default queue or on its squad's own",
    ),
    (
        "too-many-decimals",
        [("unit_cost: 12.50", "unit_cost: 12.505")],
        "products[2].unit_cost",
        "unit_cost: 12.505",
        "no more than 2 decimal places",
    ),
    (
        "comma-in-tag",
        [("tags: [ip, ipam]", "tags: [ip, 'ip,am']")],
        "products[0].tags[1]",
        "tags: [ip,",
        "must not contain commas",
    ),
    (
        "published-automated-without-runbook",
        [("    runbook: create-vm\n", "")],
        "products[2].runbook",
        "- slug: vm",
        "a published automated product needs a runbook",
    ),
    (
        "invalid-slug",
        [("- slug: ip-block", "- slug: ip block")],
        "products[0].slug",
        "slug: ip block",
        "Enter a valid “slug”",
    ),
    (
        "unknown-key",
        [("    runbook: create-vlan", "    runbok: create-vlan")],
        "products[1].runbok",
        "runbok",
        "unknown key 'runbok'; did you mean 'runbook'?",
    ),
    (
        "unknown-top-level-key",
        [("products:\n", "product:\n")],
        "product",
        "product:",
        "unknown key 'product'; did you mean 'products'?",
    ),
    (
        "missing-required-key",
        [("    name: Create VM\n", "")],
        "runbooks[1].name",
        "- slug: create-vm",
        "required key is missing",
    ),
    (
        "wrong-type-list",
        [("members: [ned, otto]", "members: ned")],
        "chapters[0].members",
        "members: ned",
        "must be a list",
    ),
    (
        "wrong-type-section",
        [("chapters:\n", "chapters: automation\nunused:\n")],
        "chapters",
        "chapters: automation",
        "must be a list",
    ),
    (
        "wrong-type-string",
        [("name: Create VM", "name: [Create, VM]")],
        "runbooks[1].name",
        "name: [Create, VM]",
        "must be a string",
    ),
    (
        "duplicate-yaml-key",
        [("    name: Create VM\n", "    name: Create VM\n    name: Make VM\n")],
        "runbooks[1].name",
        "name: Make VM",
        "duplicate key 'name'",
    ),
    (
        "dependency-cycle",
        [("    tags: [ip, ipam]\n", "    tags: [ip, ipam]\n    depends_on: [vm]\n")],
        "products[0].depends_on",
        "depends_on: [vm]",
        "cycle: ip-block → vm → vlan → ip-block",
    ),
]


@pytest.mark.parametrize(
    "replacements, path, line_text, message",
    [pytest.param(*case[1:], id=case[0]) for case in BAD_FILES],
)
def test_bad_file_is_refused_with_located_error_and_nothing_written(
    tmp_path: Path, existing: dict, replacements: list, path: str, line_text: str, message: str
) -> None:
    catalogue = variant(tmp_path, *replacements)
    before_counts, before = counts(), snapshot()

    errors = failed_import(catalogue)

    line = line_of(catalogue, line_text)
    located = [error for error in errors.splitlines() if error.startswith(f"{catalogue}:{line}: {path}: ")]
    assert located, f"no error at {catalogue.name}:{line} {path} in:\n{errors}"
    assert any(message in error for error in located), errors
    assert counts() == before_counts
    assert snapshot() == before


def test_duplicate_slugs_name_both_places(tmp_path: Path) -> None:
    catalogue = variant(tmp_path, ("- slug: compute\n", "- slug: network\n"))

    errors = failed_import(catalogue)

    lines = catalogue.read_text().splitlines()
    # The first two are the squads (categories come later and have a 'network' of their own).
    first, second = [number for number, line in enumerate(lines, start=1) if line == "  - slug: network"][:2]
    assert (
        f"{catalogue}:{second}: squads[1].slug: duplicate slug 'network': "
        f"already defined at line {first} (squads[0])"
    ) in errors
    assert counts()["squads"] == 0


def test_syntax_error_names_line_and_column() -> None:
    path = INVALID_DIR / "syntax_error.yaml"

    errors = failed_import(path)

    assert errors.strip() == f"{path}:4: YAML syntax error, column 26: mapping values are not allowed here"
    assert counts()["users"] == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("- just\n- a list\n", "the catalogue must be a mapping"),
        ("", "the file is empty"),
        ("squads: []\n---\nproducts: []\n", "expected a single document"),
    ],
    ids=["list", "empty", "two-documents"],
)
def test_file_that_is_not_a_catalogue_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(content)

    assert message in failed_import(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"

    assert f"{path}: cannot read the file" in failed_import(path)


def test_one_form_error_per_problem(tmp_path: Path) -> None:
    catalogue = variant(
        tmp_path,
        ("hostname: {type: string, format: hostname,", "hostname: {type: string, format: fqdn, colour: red,"),
        ("required: [hostname, root_password]", "required: [hostname, root_password, size]"),
    )

    errors = failed_import(catalogue).splitlines()

    hostname_line = line_of(catalogue, "format: fqdn")
    assert f"{catalogue}:{hostname_line}: products[2].form.properties.hostname.format: " in "\n".join(errors)
    assert f"{catalogue}:{hostname_line}: products[2].form.properties.hostname.colour: " in "\n".join(errors)
    required_line = line_of(catalogue, "root_password, size]")
    assert any(
        error.startswith(f"{catalogue}:{required_line}: products[2].form.required: 'size' is required")
        for error in errors
    )
    assert len(errors) == 3


def test_cycle_through_a_product_in_the_database_is_refused(tmp_path: Path) -> None:
    run_import(VALID)
    # In the database only: firewall depends on vm, which depends on vlan.
    firewall = ProductFactory(slug="firewall", squad=Squad.objects.get(slug="network"))
    firewall.depends_on.set([Product.objects.get(slug="vm")])
    before = snapshot()
    catalogue = variant(
        tmp_path, ("    tags: [ip, ipam]\n", "    tags: [ip, ipam]\n    depends_on: [firewall]\n")
    )

    errors = failed_import(catalogue)

    line = line_of(catalogue, "depends_on: [firewall]")
    assert (
        f"{catalogue}:{line}: products[0].depends_on: these dependencies make a cycle: "
        "ip-block → firewall → vm → vlan → ip-block"
    ) in errors
    assert snapshot() == before


def test_runbook_cannot_move_away_from_products_of_its_squad(tmp_path: Path) -> None:
    network = SquadFactory(slug="network")
    runbook = RunbookFactory(slug="create-vlan", squad=network)
    ProductFactory(slug="legacy-vlan", squad=network, runbook=runbook)
    catalogue = variant(
        tmp_path, ("squad: network\n    description: Creates", "squad: compute\n    description: Creates")
    )

    errors = failed_import(catalogue)

    assert "runbooks[0].squad: runbook 'create-vlan' cannot move to squad 'compute'" in errors
    assert "legacy-vlan" in errors


def test_new_category_whose_slug_is_taken_is_refused(tmp_path: Path) -> None:
    CategoryFactory(slug="compute", name="Servers")
    catalogue = variant(tmp_path)

    errors = failed_import(catalogue)

    line = line_of(catalogue, "category: Compute")
    assert (
        f"{catalogue}:{line}: products[2].category: a new category 'Compute' would get the slug 'compute'"
        in (errors)
    )


def test_file_with_many_errors_reports_every_one(existing: dict) -> None:
    """Each line of the fixture marked ``# error: PATH…`` must be reported, and nothing else."""
    path = INVALID_DIR / "many_errors.yaml"
    expected = {
        (number, location)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "# error:" in line
        for location in line.split("# error:")[1].split()
    }
    before = snapshot()

    errors = failed_import(path).splitlines()

    reported = set()
    for error in errors:
        match = re.match(rf"^{re.escape(str(path))}:(\d+): (\S+): ", error)
        assert match, error
        reported.add((int(match[1]), match[2]))
    assert reported == expected
    assert len(errors) == len(expected) > 20
    assert snapshot() == before


def test_error_is_reported_through_the_command_exit_status(tmp_path: Path) -> None:
    catalogue = variant(tmp_path, ("runbook: create-vlan", "runbook: nope"))

    with pytest.raises(CommandError, match=r"1 error; nothing was imported"):
        call_command("import_catalogue", str(catalogue), stdout=StringIO(), stderr=StringIO())
