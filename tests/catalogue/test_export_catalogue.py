"""export_catalogue: the database written out in the catalogue file format,
deterministic, with its playbooks as files, and importing it changes nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
from catalogue.models import Category, Product
from runbooks.models import Runbook, RunbookVersion
from runbooks.services import runbook_set_playbook
from squads.choices import Role
from squads.models import Chapter, Membership, Squad
from tests.catalogue.catalogue_files import TABLES, VALID, run_import, snapshot
from tests.factories import (
    CategoryFactory,
    ChapterFactory,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def run_export(*options: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("export_catalogue", *options, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def export_to(path: Path, *options: str) -> str:
    run_export("--output", str(path), *options)
    return path.read_text()


def wipe_catalogue() -> None:
    """Empty every table an import writes, as on a fresh install."""
    Product.depends_on.through.objects.all().delete()
    Product.objects.all().delete()
    Runbook.objects.update(current_version=None)
    RunbookVersion.objects.all().delete()
    Runbook.objects.all().delete()
    for model in (Category, Chapter, Membership, Squad, TABLES["users"]):
        model.objects.all().delete()


@pytest.fixture
def varied_catalogue(db: None) -> None:
    """A catalogue made in the admin's way (factories, not a file), with the
    values a format must not lose: no-defaults, odd strings, Markdown text."""
    network = SquadFactory(slug="network", name="Network Squad", mission="")
    storage = SquadFactory(slug="storage", name="yes", mission="Disks: all of them # really")
    MembershipFactory(user=UserFactory(username="nora"), squad=network, role=Role.PRODUCT_OWNER)
    MembershipFactory(user=UserFactory(username="zed"), squad=network, role=Role.CHAPTER_LEAD)
    MembershipFactory(user=UserFactory(username="nora"), squad=storage, role=Role.SME)
    chapter = ChapterFactory(slug="dba", name="DBA Chapter", description="", lead=None)
    chapter.members.set([UserFactory(username="zed")])
    ChapterFactory(slug="network-chapter", name="Network Chapter", lead=UserFactory(username="nora"))
    shelf = CategoryFactory(slug="network", name="Network", description="Wires\nand waves", position=5)
    CategoryFactory(slug="unused", name="Unused")
    runbook = RunbookFactory(slug="create-vlan", squad=network, timeout=900, queue="network.workers")
    Runbook.objects.create(slug="draft-runbook", name="Not written yet", squad=storage)
    ip_block = ProductFactory(
        slug="ip-block",
        squad=network,
        category=shelf,
        runbook=None,
        fulfilment=Fulfilment.MANUAL,
        approval_policy=ApprovalPolicy.SQUAD,
        tags="ip,ipam ,  routing",
        unit_cost=Decimal("1234567890.12"),
        description="# Heading\n\n* one\n* two\n",
    )
    vlan = ProductFactory(
        slug="vlan",
        name="123",
        squad=network,
        category=shelf,
        runbook=runbook,
        summary="Café: ünïcode — and “quotes”",
        description="no trailing newline\nsecond line",
        sla_minutes=15,
        unit_cost=Decimal("0.10"),
    )
    vlan.depends_on.set([ip_block])
    ProductFactory(
        slug="old-nas",
        squad=storage,
        category=CategoryFactory(slug="storage", name="Storage"),
        runbook=None,
        status=ProductStatus.DRAFT,
        form_schema={"type": "object", "properties": {}},
    )
    ProductFactory(slug="tape", squad=storage, status=ProductStatus.RETIRED, runbook=None, tags="")


def test_export_writes_the_catalogue_and_playbooks_next_to_the_file(tmp_path: Path) -> None:
    run_import(VALID)
    output = tmp_path / "out" / "catalogue.yaml"

    text = export_to(output)

    document = yaml.safe_load(text)
    assert list(document) == ["squads", "chapters", "categories", "runbooks", "products"]
    assert [squad["slug"] for squad in document["squads"]] == ["compute", "network"]
    assert document["squads"][1] == {
        "slug": "network",
        "name": "Network Squad",
        "mission": "Connectivity for every business unit",
        "members": [{"username": "ned", "role": "engineer"}, {"username": "nora", "role": "product_owner"}],
    }
    assert document["chapters"] == [
        {
            "slug": "automation",
            "name": "Automation Chapter",
            "description": "Everyone who writes playbooks",
            "lead": "ned",
            "members": ["ned", "otto"],
        }
    ]
    assert document["runbooks"][0] == {
        "slug": "create-vlan",
        "name": "Create VLAN",
        "squad": "network",
        "description": "Creates a VLAN on the campus fabric",
        "playbook": "playbooks/create-vlan.yml",
        "timeout": 600,
    }
    for runbook in Runbook.objects.all():
        assert (output.parent / "playbooks" / f"{runbook.slug}.yml").read_text() == runbook.playbook
    products = {product["slug"]: product for product in document["products"]}
    assert list(products) == ["ip-block", "vlan", "vm"]
    assert products["vm"]["depends_on"] == ["vlan"]
    assert products["vm"]["unit_cost"] == 12.5
    assert products["vm"]["form"]["properties"]["root_password"]["x-secret"] is True
    assert products["ip-block"]["tags"] == ["ip", "ipam"]
    assert products["ip-block"]["fulfilment"] == "manual"
    assert "runbook" not in products["ip-block"]
    assert products["vlan"]["approval"] == "none"
    assert products["vlan"]["status"] == "published"
    # Block style, multi-line text as a literal block, no anchors.
    assert "    description: |\n      Tagged on every access switch of the site.\n\n" in text
    assert "{" not in text.replace("properties: {}", "")
    assert "&" not in text


def test_export_to_stdout_puts_playbooks_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_import(VALID)
    monkeypatch.chdir(tmp_path)

    text, notes = run_export()

    runbooks = {runbook["slug"]: runbook for runbook in yaml.safe_load(text)["runbooks"]}
    assert runbooks["create-vm"]["playbook"] == "playbooks/create-vm.yml"
    assert (tmp_path / "playbooks" / "create-vm.yml").is_file()
    # Only YAML on stdout, so it can be piped.
    assert "Wrote 2 playbook(s)" in notes
    assert "Wrote" not in text


def test_playbooks_dir_option_keeps_paths_relative_to_the_file(tmp_path: Path) -> None:
    run_import(VALID)
    output = tmp_path / "catalogue" / "catalogue.yaml"

    text = export_to(output, "--playbooks-dir", str(tmp_path / "catalogue" / "shared" / "playbooks"))

    runbooks = {runbook["slug"]: runbook for runbook in yaml.safe_load(text)["runbooks"]}
    assert runbooks["create-vlan"]["playbook"] == "shared/playbooks/create-vlan.yml"
    assert (tmp_path / "catalogue" / "shared" / "playbooks" / "create-vlan.yml").is_file()
    before = snapshot()
    run_import(output)
    assert snapshot() == before


def test_a_playbooks_dir_outside_the_files_folder_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """The import reads playbooks only from inside the file's folder."""
    run_import(VALID)
    output = tmp_path / "catalogue" / "catalogue.yaml"

    with pytest.raises(CommandError, match=r"outside .*import_catalogue would refuse the file"):
        export_to(output, "--playbooks-dir", str(tmp_path / "shared" / "playbooks"))

    assert not (tmp_path / "shared").exists()
    assert not output.exists()


def test_export_is_deterministic_and_ordered_by_slug(tmp_path: Path, varied_catalogue: None) -> None:
    first = export_to(tmp_path / "first.yaml")
    # Rows touched later (and so returned in another order by default) change nothing.
    Squad.objects.filter(slug="network").update(name="Network Squad")
    second = export_to(tmp_path / "second.yaml")

    assert first == second
    document = yaml.safe_load(first)
    for section in ("squads", "chapters", "categories", "runbooks", "products"):
        slugs = [entry["slug"] for entry in document[section]]
        assert slugs == sorted(slugs), section


def test_export_then_import_changes_nothing(tmp_path: Path, varied_catalogue: None) -> None:
    output = tmp_path / "catalogue.yaml"
    export_to(output)
    before = snapshot()

    report = run_import(output)

    assert snapshot() == before
    assert " 0 created, 0 updated" in report
    assert all(" 0 created, 0 updated," in line for line in report.splitlines() if ":" in line), report


def test_export_keeps_what_the_database_holds(tmp_path: Path, varied_catalogue: None) -> None:
    document = yaml.safe_load(export_to(tmp_path / "catalogue.yaml"))

    products = {product["slug"]: product for product in document["products"]}
    assert products["vlan"]["name"] == "123"
    assert products["vlan"]["summary"] == "Café: ünïcode — and “quotes”"
    assert products["vlan"]["description"] == "no trailing newline\nsecond line"
    assert products["ip-block"]["tags"] == ["ip", "ipam", "routing"]
    assert products["ip-block"]["unit_cost"] == 1234567890.12
    assert products["old-nas"]["status"] == "draft"
    assert products["tape"]["status"] == "retired"
    assert "tags" not in products["tape"]
    squads = {squad["slug"]: squad for squad in document["squads"]}
    assert squads["storage"]["name"] == "yes"
    assert "mission" not in squads["network"]
    runbooks = {runbook["slug"]: runbook for runbook in document["runbooks"]}
    assert runbooks["create-vlan"]["queue"] == "network.workers"
    assert "playbook" not in runbooks["draft-runbook"]  # nothing to write yet
    chapters = {chapter["slug"]: chapter for chapter in document["chapters"]}
    assert "lead" not in chapters["dba"]
    assert chapters["network-chapter"]["lead"] == "nora"


def test_export_of_an_imported_file_reimports_to_the_same_state(tmp_path: Path) -> None:
    run_import(VALID)
    first = export_to(tmp_path / "first" / "catalogue.yaml")
    wipe_catalogue()

    run_import(tmp_path / "first" / "catalogue.yaml")
    second = export_to(tmp_path / "second" / "catalogue.yaml")

    assert second == first
    assert Product.objects.get(slug="vm").version == 1
    assert RunbookVersion.objects.count() == 2
    assert Membership.objects.count() == 4


def test_new_playbook_version_is_what_gets_exported(tmp_path: Path) -> None:
    runbook = RunbookFactory(slug="restart", squad=SquadFactory(slug="ops"))
    runbook_set_playbook(runbook=runbook, content="- hosts: all\n  tasks: []\n")

    export_to(tmp_path / "catalogue.yaml")

    assert (tmp_path / "playbooks" / "restart.yml").read_text() == "- hosts: all\n  tasks: []\n"
