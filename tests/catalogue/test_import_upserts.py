"""import_catalogue with a valid file: everything is upserted by slug, only
what differs is written, a re-import and a dry run change nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
from catalogue.models import Category, Product
from runbooks.models import Runbook
from squads.choices import Role
from squads.models import Chapter, Membership, Squad
from tests.catalogue.catalogue_files import (
    VALID,
    VALID_DIR,
    User,
    counts,
    failed_import,
    run_import,
    snapshot,
    variant,
)
from tests.factories import (
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


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
        "business units": 0,
        "business unit members": 0,
        "quotas": 0,
        "choice lists": 0,
        "choice list items": 0,
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


def test_check_mode_flag_of_runbooks_round_trips(tmp_path):
    path = variant(tmp_path, ("    timeout: 600\n", "    timeout: 600\n    check_mode: true\n"))
    run_import(path)
    assert Runbook.objects.get(slug="create-vlan").supports_check_mode is True
    assert Runbook.objects.get(slug="create-vm").supports_check_mode is False
    failing = variant(tmp_path / "again", ("    timeout: 600\n", "    timeout: 600\n    check_mode: maybe\n"))
    assert "runbooks[0].check_mode: must be true or false, not the string 'maybe'" in failed_import(failing)
