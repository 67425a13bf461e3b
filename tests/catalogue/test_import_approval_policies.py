"""import_catalogue and multi-step approvals: steps are imported in order,
replaced when they change, and every mistake in them is reported."""

from __future__ import annotations

import shutil

import pytest

from catalogue.choices import ApprovalPolicy
from catalogue.models import Product
from tests.catalogue.catalogue_files import (
    counts,
    failed_import,
    run_import,
    snapshot,
    variant,
)

pytestmark = pytest.mark.django_db


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
            tmp_path,
            (
                "    approval: squad\n",
                "    approval:\n      steps:\n        - name: Only one\n          roles: [product_owner]\n",
            ),
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
        - name: Nobody named
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
        "products[0].approval.steps[6]: a step names who approves it: a squad, a chapter or roles",
        "products[0].approval.escalate_after_hours: must be later than remind_after_hours (10)",
        "products[0].approval.colour: unknown key 'colour'",
        "products[1].approval: the steps policy needs its steps",
    ):
        assert expected in errors, f"{expected!r} not in:\n{errors}"
    assert counts() == before
