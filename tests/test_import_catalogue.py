"""import_catalogue: a valid file upserts everything by slug, a re-import
changes nothing, and a bad file is refused whole, with every error located."""

from __future__ import annotations

import os
import re
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
from catalogue.models import Category, Product
from runbooks.models import Runbook, RunbookVersion
from squads.choices import Role
from squads.models import Chapter, Membership, Squad
from tests.deadline import deadline
from tests.factories import (
    CategoryFactory,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
    UserFactory,
)

DATA = Path(__file__).parent / "data" / "catalogues"
VALID_DIR = DATA / "valid"
VALID = VALID_DIR / "catalogue.yaml"
INVALID_DIR = DATA / "invalid"

User = get_user_model()
#: Every table an import may write, so "nothing changed" means nothing at all.
TABLES = {
    "users": User,
    "squads": Squad,
    "memberships": Membership,
    "chapters": Chapter,
    "chapter members": Chapter.members.through,
    "categories": Category,
    "runbooks": Runbook,
    "runbook versions": RunbookVersion,
    "products": Product,
    "dependencies": Product.depends_on.through,
}

pytestmark = pytest.mark.django_db


def run_import(path: Path, *options: str) -> str:
    stdout, stderr = StringIO(), StringIO()
    call_command("import_catalogue", str(path), *options, stdout=stdout, stderr=stderr)
    return stdout.getvalue()


def failed_import(path: Path) -> str:
    """The errors printed by an import that must fail, after checking it failed."""
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalogue", str(path), stdout=stdout, stderr=stderr)
    return stderr.getvalue()


def counts() -> dict[str, int]:
    return {label: model.objects.count() for label, model in TABLES.items()}


def snapshot() -> dict[str, list[dict]]:
    """Every field of every row (timestamps and versions included)."""
    return {label: list(model.objects.order_by("pk").values()) for label, model in TABLES.items()}


def variant(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the valid catalogue (with its playbooks, and the broken ones)
    where each ``old`` text, found exactly once, is replaced by ``new``."""
    directory = tmp_path / "catalogue"
    shutil.copytree(VALID_DIR, directory)
    for playbook in (INVALID_DIR / "playbooks").iterdir():
        shutil.copy(playbook, directory / "playbooks" / playbook.name)
    path = directory / "catalogue.yaml"
    text = path.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} must occur once in the valid catalogue"
        text = text.replace(old, new)
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    matches = [number for number, line in enumerate(lines, start=1) if needle in line]
    assert len(matches) == 1, f"{needle!r} must be on exactly one line"
    return matches[0]


@pytest.fixture
def existing(db: None) -> dict[str, object]:
    """Rows already in the database that a failed import must leave as they are."""
    nora = UserFactory(username="nora")
    squad = SquadFactory(slug="network", name="Old Network Squad")
    MembershipFactory(user=nora, squad=squad, role=Role.SME)
    product = ProductFactory(slug="firewall", squad=squad, category=CategoryFactory(slug="security"))
    return {"nora": nora, "squad": squad, "product": product}


# --- A valid file ---------------------------------------------------------------


def test_valid_catalogue_creates_everything() -> None:
    output = run_import(VALID)

    assert counts() == {
        "users": 3,
        "squads": 2,
        "memberships": 4,
        "chapters": 1,
        "chapter members": 2,
        "categories": 2,
        "runbooks": 2,
        "runbook versions": 2,
        "products": 3,
        "dependencies": 2,
    }
    network = Squad.objects.get(slug="network")
    assert (network.name, network.mission) == ("Network Squad", "Connectivity for every business unit")
    roles = {
        (m.squad.slug, m.user.username): m.role for m in Membership.objects.select_related("squad", "user")
    }
    assert roles == {
        ("network", "nora"): Role.PRODUCT_OWNER,
        ("network", "ned"): Role.ENGINEER,
        ("compute", "otto"): Role.ENGINEER,
        ("compute", "nora"): Role.SME,
    }
    chapter = Chapter.objects.get(slug="automation")
    assert chapter.lead.username == "ned"
    assert sorted(user.username for user in chapter.members.all()) == ["ned", "otto"]

    vlan_runbook = Runbook.objects.get(slug="create-vlan")
    assert vlan_runbook.squad == network
    assert vlan_runbook.timeout == 600
    assert vlan_runbook.description == "Creates a VLAN on the campus fabric"
    assert vlan_runbook.playbook == (VALID_DIR / "playbooks" / "create_vlan.yml").read_text()
    assert vlan_runbook.current_version.number == 1
    assert Runbook.objects.get(slug="create-vm").queue == "compute"

    vlan = Product.objects.get(slug="vlan")
    assert vlan.category.name == "Network"
    assert vlan.status == ProductStatus.PUBLISHED
    assert vlan.fulfilment == Fulfilment.AUTOMATED
    assert vlan.approval_policy == ApprovalPolicy.NONE
    assert vlan.runbook == vlan_runbook
    assert vlan.sla_minutes == 30
    assert vlan.description == "Tagged on every access switch of the site.\n\nTakes effect within minutes.\n"
    assert vlan.form_schema["properties"]["vlan_id"] == {
        "type": "integer",
        "minimum": 2,
        "maximum": 4094,
        "title": "VLAN ID",
    }
    assert vlan.version == 1
    assert [p.slug for p in vlan.depends_on.all()] == ["ip-block"]

    ip_block = Product.objects.get(slug="ip-block")
    assert ip_block.fulfilment == Fulfilment.MANUAL
    assert ip_block.runbook is None
    assert ip_block.approval_policy == ApprovalPolicy.SQUAD
    assert ip_block.tag_list == ["ip", "ipam"]

    vm = Product.objects.get(slug="vm")
    assert vm.squad.slug == "compute"
    assert [p.slug for p in vm.depends_on.all()] == ["vlan"]  # across squads
    assert str(vm.unit_cost) == "12.50"
    assert vm.form_schema["properties"]["root_password"]["x-secret"] is True
    # A category only named by a product is created from its name.
    assert Category.objects.get(name="Compute").slug == "compute"
    assert Category.objects.get(slug="network").position == 1

    assert "products: 3 created, 0 updated, 0 unchanged" in output
    assert "created product vlan" in output


def test_missing_users_are_created_without_usable_password_and_reported(existing: dict) -> None:
    output = run_import(VALID)

    for username in ("ned", "otto"):
        assert not User.objects.get(username=username).has_usable_password()
        assert f"created user {username} (no usable password)" in output
    # nora already existed: she keeps her password and is not reported.
    assert User.objects.get(username="nora").check_password("pw-for-tests-1")
    assert "user nora" not in output
    assert "users: 2 created, 0 updated, 1 unchanged" in output


def test_memberships_not_in_the_file_are_left_alone_and_roles_are_upserted(existing: dict) -> None:
    outsider = UserFactory(username="ursula")
    MembershipFactory(user=outsider, squad=existing["squad"], role=Role.PLATFORM_LEAD)

    run_import(VALID)

    network = Squad.objects.get(slug="network")
    assert network.memberships.get(user=outsider).role == Role.PLATFORM_LEAD
    # nora was an SME in the database; the file makes her product owner.
    assert network.memberships.get(user=existing["nora"]).role == Role.PRODUCT_OWNER
    assert network.name == "Network Squad"
    # Products the file does not name stay too.
    assert Product.objects.filter(slug="firewall").exists()


def test_reimport_is_a_noop() -> None:
    run_import(VALID)
    before = snapshot()

    output = run_import(VALID)

    assert snapshot() == before
    for kind in ("squads", "members", "chapters", "categories", "runbooks", "products"):
        assert re.search(rf"^{kind}: 0 created, 0 updated, \d+ unchanged$", output, re.MULTILINE), kind
    assert "users: 0 created, 0 updated, 3 unchanged" in output


def test_changed_field_updates_only_that_product_and_bumps_its_version(tmp_path: Path) -> None:
    run_import(VALID)
    before = {p.slug: p for p in Product.objects.all()}
    changed = variant(tmp_path, ("sla_minutes: 30", "sla_minutes: 45"))

    output = run_import(changed)

    after = {p.slug: p for p in Product.objects.all()}
    assert after["vlan"].sla_minutes == 45
    assert after["vlan"].version == before["vlan"].version + 1
    assert after["vlan"].updated_at > before["vlan"].updated_at
    for slug in ("ip-block", "vm"):
        assert (after[slug].version, after[slug].updated_at) == (
            before[slug].version,
            before[slug].updated_at,
        )
    assert "updated product vlan (sla_minutes)" in output
    assert "products: 0 created, 1 updated, 2 unchanged" in output


def test_changed_dependencies_are_set_exactly_and_bump_the_version(tmp_path: Path) -> None:
    run_import(VALID)
    changed = variant(tmp_path, ("depends_on: [vlan]", "depends_on: [ip-block]"))

    output = run_import(changed)

    vm = Product.objects.get(slug="vm")
    assert [p.slug for p in vm.depends_on.all()] == ["ip-block"]
    assert vm.version == 2
    assert "updated product vm (depends_on)" in output


def test_changed_playbook_adds_a_runbook_version(tmp_path: Path) -> None:
    run_import(VALID)
    changed = variant(tmp_path)
    playbook = changed.parent / "playbooks" / "create_vm.yml"
    playbook.write_text(playbook.read_text().replace("Create the VM", "Create the virtual machine"))

    output = run_import(changed)

    runbook = Runbook.objects.get(slug="create-vm")
    assert list(runbook.versions.values_list("number", flat=True)) == [2, 1]
    assert runbook.current_version.number == 2
    assert "Create the virtual machine" in runbook.playbook
    assert Runbook.objects.get(slug="create-vlan").versions.count() == 1
    assert "updated runbook create-vm (playbook)" in output


def test_references_may_point_at_rows_already_in_the_database(tmp_path: Path) -> None:
    squad = SquadFactory(slug="storage")
    RunbookFactory(slug="make-share", squad=squad)
    ProductFactory(slug="nas", squad=squad)
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        "products:\n"
        "  - {slug: share, name: File share, category: Storage, squad: storage, runbook: make-share,\n"
        "     depends_on: [nas]}\n"
    )

    run_import(path)

    share = Product.objects.get(slug="share")
    assert share.runbook.slug == "make-share"
    assert [p.slug for p in share.depends_on.all()] == ["nas"]


def test_dry_run_reports_and_writes_nothing(existing: dict) -> None:
    before = snapshot()

    output = run_import(VALID, "--dry-run")

    assert snapshot() == before
    assert "would create user ned (no usable password)" in output
    assert "would update squad network (name, mission)" in output
    assert "would create product vlan" in output
    assert "Dry run: nothing was written." in output


# --- Bad files: refused whole, each error at file:line with its path -------------

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


# --- Approval policies ---------------------------------------------------------

STEPS_POLICY = """    approval:
      steps:
        - name: Squad review
          roles: [product_owner, sme]
        - name: Compute sign-off
          squad: compute
          approvals: 2
        - name: Automation chapter
          chapter: automation
      remind_after_hours: 4
      escalate_after_hours: 12
"""


def test_multi_step_approval_is_imported_in_order_and_reimport_changes_nothing(tmp_path):
    path = variant(tmp_path, ("    approval: squad\n", STEPS_POLICY))
    run_import(path)

    product = Product.objects.get(slug="ip-block")
    assert product.approval_policy == ApprovalPolicy.STEPS
    assert (product.approval_remind_after_hours, product.approval_escalate_after_hours) == (4, 12)
    steps = list(
        product.approval_steps.order_by("position").values_list(
            "name", "squad__slug", "chapter__slug", "roles", "required_approvals"
        )
    )
    assert steps == [
        ("Squad review", None, None, ["product_owner", "sme"], 1),
        ("Compute sign-off", "compute", None, [], 2),
        ("Automation chapter", None, "automation", [], 1),
    ]
    before = snapshot()
    before_steps = list(product.approval_steps.values())
    output = run_import(path)
    assert "products: 0 created, 0 updated, 3 unchanged" in output
    assert snapshot() == before
    assert list(product.approval_steps.values()) == before_steps


def test_changing_the_steps_replaces_them(tmp_path):
    run_import(variant(tmp_path, ("    approval: squad\n", STEPS_POLICY)))
    shutil.rmtree(tmp_path / "catalogue")
    run_import(
        variant(
            tmp_path, ("    approval: squad\n", "    approval:\n      steps:\n        - name: Only one\n")
        )
    )
    product = Product.objects.get(slug="ip-block")
    assert list(product.approval_steps.values_list("name", flat=True)) == ["Only one"]
    assert (product.approval_remind_after_hours, product.approval_escalate_after_hours) == (24, 72)


def test_every_approval_mistake_is_reported_and_nothing_is_written(tmp_path):
    path = variant(
        tmp_path,
        (
            "    approval: squad\n",
            """    approval:
      steps:
        - name: Ghost squad
          squad: nowhere
        - name: Ghost chapter
          chapter: nobody
        - name: Both
          squad: compute
          chapter: automation
        - name: Odd role
          roles: [janitor]
        - squad: compute
          approvals: 0
        - name: More than there are people
          roles: [product_owner]
          approvals: 3
      remind_after_hours: 10
      escalate_after_hours: 5
      colour: red
""",
        ),
        ("    approval: none\n", "    approval: steps\n"),
    )
    before = counts()
    errors = failed_import(path)
    for expected in (
        "products[0].approval.steps[0].squad: unknown squad 'nowhere'",
        "products[0].approval.steps[1].chapter: unknown chapter 'nobody'",
        "products[0].approval.steps[2].chapter: a step names a squad or a chapter, not both",
        "products[0].approval.steps[3].roles[0]: unknown role 'janitor'",
        "products[0].approval.steps[4].name: required key is missing",
        "products[0].approval.steps[4].approvals: must be a positive whole number, not 0",
        "products[0].approval.steps[5].approvals: needs 3 approvals but only 1 person can give them",
        "products[0].approval.escalate_after_hours: must be later than remind_after_hours (10)",
        "products[0].approval.colour: unknown key 'colour'",
        "products[1].approval: the steps policy needs its steps",
    ):
        assert expected in errors, f"{expected!r} not in:\n{errors}"
    assert counts() == before


def test_check_mode_flag_of_runbooks_round_trips(tmp_path):
    path = variant(tmp_path, ("    timeout: 600\n", "    timeout: 600\n    check_mode: true\n"))
    run_import(path)
    assert Runbook.objects.get(slug="create-vlan").supports_check_mode is True
    assert Runbook.objects.get(slug="create-vm").supports_check_mode is False
    failing = variant(tmp_path / "again", ("    timeout: 600\n", "    timeout: 600\n    check_mode: maybe\n"))
    assert "runbooks[0].check_mode: must be true or false, not the string 'maybe'" in failed_import(failing)


# --- Paths stay in the catalogue's folder; YAML cannot expand ------------------

OUTSIDE_PLAYBOOK = "- hosts: localhost\n  tasks:\n    - ansible.builtin.debug: {msg: from outside}\n"


LINK = "goes through a symbolic link"


def bomb(levels: int = 9) -> str:
    """A "billion laughs" as a flow list: ``levels`` anchors of nine aliases
    each, on one line per level, for a form's ``examples``."""
    lines = ['[&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"],']
    for level in range(1, levels):
        lines.append(f"  &l{level} [{','.join([f'*l{level - 1}'] * 9)}],")
    return "\n".join(lines) + "]"


def assert_refused_at(catalogue: Path, line_text: str, path: str, message: str) -> None:
    """The import fails with ``message`` at the line holding ``line_text``."""
    before_counts, before = counts(), snapshot()

    errors = failed_import(catalogue)

    line = line_of(catalogue, line_text)
    located = [error for error in errors.splitlines() if error.startswith(f"{catalogue}:{line}: {path}")]
    assert any(message in error for error in located), errors
    assert counts() == before_counts
    assert snapshot() == before


@pytest.mark.parametrize(
    "playbook",
    ["../outside.yml", "playbooks/../../outside.yml", "./../outside.yml", "playbooks/../create_vm.yml"],
)
def test_a_playbook_path_with_dot_dot_is_refused(tmp_path: Path, existing: dict, playbook: str) -> None:
    (tmp_path / "outside.yml").write_text(OUTSIDE_PLAYBOOK)
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", playbook))

    assert_refused_at(
        catalogue, playbook, "runbooks[1].playbook", "must stay inside the catalogue file's folder"
    )
    assert not RunbookVersion.objects.filter(content=OUTSIDE_PLAYBOOK).exists()


def test_a_playbook_that_is_a_symbolic_link_to_a_file_outside_is_refused(
    tmp_path: Path, existing: dict
) -> None:
    (tmp_path / "outside.yml").write_text(OUTSIDE_PLAYBOOK)
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "playbooks/linked.yml"))
    (catalogue.parent / "playbooks" / "linked.yml").symlink_to(tmp_path / "outside.yml")

    assert_refused_at(
        catalogue, "playbooks/linked.yml", "runbooks[1].playbook", "goes through a symbolic link"
    )
    assert not RunbookVersion.objects.filter(content=OUTSIDE_PLAYBOOK).exists()


def test_a_symbolic_link_is_refused_even_when_it_points_inside(tmp_path: Path, existing: dict) -> None:
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "playbooks/same.yml"))
    (catalogue.parent / "playbooks" / "same.yml").symlink_to("create_vm.yml")

    assert_refused_at(catalogue, "playbooks/same.yml", "runbooks[1].playbook", LINK)


def test_a_playbook_under_a_linked_folder_is_refused(tmp_path: Path, existing: dict) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "create_vm.yml").write_text(OUTSIDE_PLAYBOOK)
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "shared/create_vm.yml"))
    (catalogue.parent / "shared").symlink_to(elsewhere, target_is_directory=True)

    assert_refused_at(
        catalogue, "shared/create_vm.yml", "runbooks[1].playbook", "goes through a symbolic link"
    )
    assert not RunbookVersion.objects.filter(content=OUTSIDE_PLAYBOOK).exists()


def test_a_playbook_that_is_a_folder_or_a_fifo_is_refused_without_waiting(
    tmp_path: Path, existing: dict
) -> None:
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "playbooks/pipe.yml"))
    os.mkfifo(catalogue.parent / "playbooks" / "pipe.yml")

    with deadline(10):
        assert_refused_at(catalogue, "playbooks/pipe.yml", "runbooks[1].playbook", "is not a file")
    folder = variant(tmp_path / "again", ("playbooks/create_vm.yml", "./playbooks"))
    assert_refused_at(folder, "./playbooks", "runbooks[1].playbook", "is not a file")


def test_a_billion_laughs_in_a_forms_examples_is_refused_at_once(tmp_path: Path, existing: dict) -> None:
    laughs = bomb()
    assert len(laughs) <= 1300
    catalogue = variant(
        tmp_path,
        (
            "hostname: {type: string, format: hostname, title: Host name}",
            f"hostname: {{type: string, format: hostname, title: Host name, examples: {laughs}}}",
        ),
    )

    with deadline(10):
        assert_refused_at(catalogue, "&l0", "", "YAML anchors and aliases are not accepted (&l0 at line")


def test_a_recursive_alias_in_the_catalogue_is_refused(tmp_path: Path, existing: dict) -> None:
    catalogue = variant(
        tmp_path,
        ("    tags: [ip, ipam]\n", "    tags: &tags [ip, *tags]\n"),
    )

    assert_refused_at(catalogue, "&tags", "", "YAML anchors and aliases are not accepted (&tags at line")


def test_a_merge_key_is_an_alias_too(tmp_path: Path, existing: dict) -> None:
    catalogue = variant(
        tmp_path,
        (
            "    timeout: 1200\n",
            "    timeout: 1200\n    <<: *defaults\n",
        ),
        ("  - slug: create-vlan\n", "  - &defaults\n    slug: create-vlan\n"),
    )

    assert_refused_at(catalogue, "&defaults", "", "anchors and aliases are not accepted")


def test_a_playbook_with_an_alias_is_refused_with_its_line(tmp_path: Path, existing: dict) -> None:
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "playbooks/aliased.yml"))

    assert_refused_at(
        catalogue,
        "playbooks/aliased.yml",
        "runbooks[1].playbook",
        "The playbook cannot be accepted: YAML anchors and aliases are not accepted (&task at line 5)",
    )


def test_a_form_nested_too_deep_is_refused_not_a_recursion_error(tmp_path: Path, existing: dict) -> None:
    deep = "[" * 3000 + "]" * 3000
    catalogue = variant(
        tmp_path,
        (
            "hostname: {type: string, format: hostname, title: Host name}",
            f"hostname: {{type: string, format: hostname, title: Host name, examples: {deep}}}",
        ),
    )

    assert_refused_at(catalogue, "examples: [[[", "", "nested too deep")


def test_a_catalogue_with_too_many_values_is_refused(tmp_path: Path, existing: dict, monkeypatch) -> None:
    from catalogue.importing import document

    monkeypatch.setattr(document.CatalogueLoader, "max_nodes", 50)
    catalogue = variant(tmp_path)

    errors = failed_import(catalogue)

    assert "the document is too large: more than 50 values" in errors
    assert counts()["squads"] == 1  # only the existing one
