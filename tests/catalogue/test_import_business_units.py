"""``business_units`` and ``over_quota`` in the catalogue file: imported
(upsert by slug, members added and created when unknown, quotas replaced),
exported so that a round trip changes nothing, and every mistake refused
with its place in the file, importing nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model

from catalogue.choices import OverQuota
from catalogue.models import Product
from portal.consumption.models import BusinessUnit, Quota
from tests.catalogue.catalogue_files import counts, failed_import, line_of, run_import, snapshot
from tests.catalogue.test_export_catalogue import export_to, wipe_catalogue
from tests.catalogue.test_import_operations import INSTANCE, OPERATIONS, VM_FORM_END, with_operations
from tests.instances import create, reporting

pytestmark = pytest.mark.django_db

UNITS = """
business_units:
  - slug: finance
    name: Finance
    cost_centre: CC-100
    members: [bea, nora]
    quotas:
      - {product: vm, max_instances: 10}
      - {product: vm, attribute: vcpus, max_total: 64}
  - slug: logistics
    name: Logistics
    members: [bea]
"""


def catalogue(tmp_path: Path, units: str = UNITS, *, over_quota: str = "approval") -> Path:
    path = with_operations(tmp_path)
    text = path.read_text()
    if over_quota:
        text = text.replace("    instance: true\n", f"    instance: true\n    over_quota: {over_quota}\n", 1)
    path.write_text(text + units)
    return path


def test_units_members_and_quotas_are_imported_and_a_reimport_changes_nothing(tmp_path):
    path = catalogue(tmp_path)
    output = run_import(path)
    assert "created business unit finance" in output
    assert "business_units: 2 created, 0 updated, 0 unchanged" in output
    finance = BusinessUnit.objects.get(slug="finance")
    assert (finance.name, finance.cost_centre) == ("Finance", "CC-100")
    assert sorted(finance.members.values_list("username", flat=True)) == ["bea", "nora"]
    bea = get_user_model().objects.get(username="bea")
    assert not bea.has_usable_password()  # created as squad members are
    quotas = finance.quotas.order_by("attribute")
    assert list(quotas.values_list("product__slug", "max_instances", "attribute", "max_total")) == [
        ("vm", 10, "", None),
        ("vm", None, "vcpus", Decimal("64.00")),
    ]
    assert Product.objects.get(slug="vm").over_quota == OverQuota.APPROVAL

    before = snapshot()
    output = run_import(path)
    assert "business_units: 0 created, 0 updated, 2 unchanged" in output
    assert snapshot() == before


def test_a_changed_file_updates_the_unit_replaces_its_quotas_and_keeps_its_members(tmp_path):
    run_import(catalogue(tmp_path / "a"))
    changed = UNITS.replace("name: Finance", "name: Finance & Control").replace(
        "members: [bea, nora]", "members: [bea]"
    )
    changed = changed.replace("      - {product: vm, max_instances: 10}\n", "")
    output = run_import(catalogue(tmp_path / "b", changed))
    assert "updated business unit finance (name, quotas)" in output
    finance = BusinessUnit.objects.get(slug="finance")
    assert finance.name == "Finance & Control"
    assert list(finance.quotas.values_list("attribute", flat=True)) == ["vcpus"]
    assert sorted(finance.members.values_list("username", flat=True)) == ["bea", "nora"]  # never removed


def test_export_writes_units_and_over_quota_and_a_round_trip_changes_nothing(tmp_path):
    run_import(catalogue(tmp_path))
    exported = export_to(tmp_path / "out" / "catalogue.yaml")
    document = yaml.safe_load(exported)
    assert document["business_units"] == [
        {
            "slug": "finance",
            "name": "Finance",
            "cost_centre": "CC-100",
            "members": ["bea", "nora"],
            "quotas": [
                {"product": "vm", "max_instances": 10},
                {"product": "vm", "attribute": "vcpus", "max_total": 64},
            ],
        },
        {"slug": "logistics", "name": "Logistics", "members": ["bea"]},
    ]
    assert next(p for p in document["products"] if p["slug"] == "vm")["over_quota"] == "approval"
    assert all("over_quota" not in p for p in document["products"] if p["slug"] != "vm")
    wipe_catalogue()
    BusinessUnit.objects.all().delete()
    run_import(tmp_path / "out" / "catalogue.yaml")
    assert export_to(tmp_path / "again" / "catalogue.yaml") == exported


def test_a_quota_on_an_attribute_its_instances_report_is_accepted(tmp_path, requester, database):
    create(database, requester, reported=reporting("db", iops=3000))
    units = """
business_units:
  - slug: finance
    name: Finance
    quotas:
      - {product: postgres, attribute: iops, max_total: 10000}
      - {product: postgres, attribute: size_gb, max_total: 500}
"""
    run_import(catalogue(tmp_path, units))
    assert Quota.objects.filter(product=database).count() == 2


MISTAKES = [
    (
        "{product: vm, max_instances: 10}",
        "{product: nope, max_instances: 10}",
        "quotas[0].product",
        "unknown product 'nope' (not in this file nor in the database)",
    ),
    (
        "{product: vm, max_instances: 10}",
        "{product: vm, max_instances: -1}",
        "quotas[0].max_instances",
        "must not be negative, not -1",
    ),
    (
        "{product: vm, attribute: vcpus, max_total: 64}",
        "{product: vm, attribute: vcpus, max_total: -5}",
        "quotas[1].max_total",
        "must not be negative, not -5",
    ),
    (
        "{product: vm, attribute: vcpus, max_total: 64}",
        "{product: vm, attribute: hostname, max_total: 5}",
        "quotas[1].attribute",
        "Virtual machine's instances have no number attribute 'hostname'",
    ),
    (
        "{product: vm, attribute: vcpus, max_total: 64}",
        "{product: vm, attribute: gpus, max_total: 5}",
        "quotas[1].attribute",
        "Virtual machine's instances have no number attribute 'gpus' (the number fields of its forms: vcpus; "
        "or an attribute its instances report)",
    ),
    (
        "{product: vm, max_instances: 10}",
        "{product: vlan, max_instances: 10}",
        "quotas[0].product",
        "product 'vlan' makes no instances (instance: true): a quota counts instances",
    ),
    (
        "{product: vm, max_instances: 10}",
        "{product: vm, max_instances: 2, attribute: vcpus, max_total: 8}",
        "quotas[0].max_instances",
        "a quota on an attribute limits its total (max_total), not a count",
    ),
    (
        "{product: vm, max_instances: 10}",
        "{product: vm}",
        "quotas[0]",
        "a quota gives max_instances, or an attribute and its max_total",
    ),
    (
        "{product: vm, max_instances: 10}",
        "{product: vm, max_instances: 10, limit: 3}",
        "quotas[0].limit",
        "unknown key 'limit'",
    ),
    (
        "{product: vm, attribute: vcpus, max_total: 64}",
        "{product: vm, max_instances: 3}",
        "quotas[1]",
        "a second quota on the instances of product 'vm': already limited at line",
    ),
]


@pytest.mark.parametrize(("old", "new", "path", "message"), MISTAKES)
def test_a_mistake_is_refused_at_its_place_and_nothing_is_imported(tmp_path, old, new, path, message):
    units = UNITS.replace(old, new)
    assert units != UNITS
    file = catalogue(tmp_path, units)
    before = counts()
    errors = failed_import(file)
    line = line_of(file, new)
    assert f"catalogue.yaml:{line}: business_units[0].{path}: {message}" in errors, errors
    assert counts() == before


def test_an_unknown_unit_key_and_a_duplicate_slug_are_located(tmp_path):
    units = UNITS.replace("    cost_centre: CC-100\n", "    cost_center: CC-100\n").replace(
        "slug: logistics", "slug: finance"
    )
    file = catalogue(tmp_path, units)
    errors = failed_import(file)
    line = line_of(file, "cost_center")
    hint = "unknown key 'cost_center'; did you mean 'cost_centre'?"
    assert f":{line}: business_units[0].cost_center: {hint}" in errors
    assert "business_units[1].slug: duplicate slug 'finance'" in errors
    assert not BusinessUnit.objects.exists()


def test_an_unknown_over_quota_is_located(tmp_path):
    file = catalogue(tmp_path, over_quota="ask")
    errors = failed_import(file)
    line = line_of(file, "over_quota: ask")
    assert f":{line}: products[2].over_quota: unknown over_quota 'ask'; use one of refuse, approval" in errors


def test_a_file_without_units_leaves_the_existing_ones_alone(tmp_path):
    run_import(catalogue(tmp_path / "a"))
    before = snapshot()
    run_import(with_operations(tmp_path / "b"))
    after = snapshot()
    assert after["business units"] == before["business units"] and after["quotas"] == before["quotas"]


def test_the_instance_flag_comes_from_the_file_when_it_defines_the_product(tmp_path):
    # The vm without instance: true (nor its operations) cannot take a quota.
    path = with_operations(tmp_path, operations=VM_FORM_END, instance=(INSTANCE[0], INSTANCE[0]))
    path.write_text(path.read_text() + UNITS)
    errors = failed_import(path)
    assert "product 'vm' makes no instances" in errors
    assert OPERATIONS  # the operations fixture stays the one the other tests use
