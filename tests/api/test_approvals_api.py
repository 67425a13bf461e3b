"""The approval rules through the API, the same services as the browser:
separation of duties, steps in order, what an order's detail says about its
approval, and the approver's dry run."""

from __future__ import annotations

import pytest

from portal.orders.execution import order_dry_run_execute
from portal.orders.models import Order, OrderApproval, OrderEvent
from portal.orders.submission import order_submit
from tests.runbooks import use_private_dirs

pytestmark = pytest.mark.django_db


def place(api, inputs=None) -> dict:
    response = api.post(
        "/api/v1/orders/", {"product": "fw", "inputs": inputs or {"label": "a"}}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def frozen(order_id: int) -> tuple:
    order = Order.objects.get(pk=order_id)
    return (
        order.status,
        order.approval_step,
        order.updated_at,
        OrderApproval.objects.filter(order=order).count(),
        OrderEvent.objects.filter(order=order).count(),
    )


def test_nobody_approves_their_own_order_through_the_api(api_for, two_steps, member):
    order = place(api_for(member))
    before = frozen(order["id"])
    response = api_for(member).post(f"/api/v1/orders/{order['id']}/approve/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "You cannot approve or reject your own order."
    assert frozen(order["id"]) == before


def test_steps_open_in_order_and_one_person_counts_once(api_for, two_steps, requester, member, other_member):
    order = place(api_for(requester))
    url = f"/api/v1/orders/{order['id']}"
    before = frozen(order["id"])
    # Before their step opens, the later approvers do not even see the order.
    early = api_for(other_member).post(f"{url}/approve/", {}, format="json")
    assert early.status_code == 404
    assert frozen(order["id"]) == before

    first = api_for(member).post(f"{url}/approve/", {"note": "ok"}, format="json")
    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "pending_approval"
    assert body["approval"]["current_step"] == 1
    assert [step["state"] for step in body["approval"]["steps"]] == ["done", "open"]
    assert body["approval"]["steps"][0]["decisions"][0]["approver"] == "nora"
    assert body["approval"]["steps"][1]["approvers"] == "any member of Compute Squad"

    before = frozen(order["id"])
    again = api_for(member).post(f"{url}/approve/", {}, format="json")
    assert again.status_code == 403 and "already decided" in again.json()["detail"]
    assert frozen(order["id"]) == before

    last = api_for(other_member).post(f"{url}/approve/", {}, format="json")
    assert last.status_code == 200 and last.json()["status"] == "queued"
    assert last.json()["approval"]["current_step"] is None


def test_rejection_at_a_later_step_ends_the_order(api_for, two_steps, requester, member, other_member):
    order = place(api_for(requester))
    url = f"/api/v1/orders/{order['id']}"
    api_for(member).post(f"{url}/approve/", {}, format="json")
    refused = api_for(other_member).post(f"{url}/reject/", {}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()["errors"]
    rejected = api_for(other_member).post(f"{url}/reject/", {"reason": "Not through the DMZ"}, format="json")
    assert rejected.status_code == 200
    body = rejected.json()
    assert (body["status"], body["result"]["failure_reason"]) == ("rejected", "Not through the DMZ")
    # Having decided, they still see the order they rejected.
    assert api_for(other_member).get(f"{url}/").status_code == 200


def test_approver_previews_through_the_api(api_for, two_steps, requester, member, settings, tmp_path):
    from portal.orders.models import OrderDryRun

    use_private_dirs(settings, tmp_path)
    order = place(api_for(requester))
    detail = api_for(member).get(f"/api/v1/orders/{order['id']}/").json()
    assert "dry-run" in detail["actions"] and detail["dry_run"] is None
    assert "dry-run" not in api_for(requester).get(f"/api/v1/orders/{order['id']}/").json()["actions"]

    response = api_for(member).post(f"/api/v1/orders/{order['id']}/dry-run/", {}, format="json")
    assert response.status_code == 200 and response.json()["dry_run"]["status"] == "pending"
    order_dry_run_execute(dry_run_id=OrderDryRun.objects.get().pk)  # the worker's part

    dry_run = api_for(member).get(f"/api/v1/orders/{order['id']}/").json()["dry_run"]
    assert dry_run["status"] == "succeeded"
    assert dry_run["would_change"] == {"localhost": 1}
    assert "Write a file unless dry run" in dry_run["output_tail"]


MALFORMED = [({"note": 5}, "note"), ({"note": ["ok"]}, "note"), ({"note": "ok", "comment": "ok"}, "comment")]


@pytest.mark.parametrize("body, field", MALFORMED)
def test_a_malformed_decision_changes_nothing(api_for, two_steps, requester, member, body, field):
    order = place(api_for(requester))
    before = frozen(order["id"])
    response = api_for(member).post(f"/api/v1/orders/{order['id']}/approve/", body, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == [field]
    assert frozen(order["id"]) == before


def test_a_products_detail_says_which_approval_steps_an_order_will_go_through(api_for, two_steps, requester):
    body = api_for(requester).get("/api/v1/products/fw/").json()
    assert body["approval_steps"] == [
        {"name": "Squad review", "approvers": "product owners of Network Squad", "required": 1},
        {"name": "Compute sign-off", "approvers": "any member of Compute Squad", "required": 1},
    ]


def test_only_the_people_a_step_names_see_the_order_waiting_for_it(
    api_for, requester, squad, other_squad, client
):
    """A step that asks another squad's platform leads shows the order to
    them, not to every member of that squad: its inputs may be sensitive."""
    from catalogue.choices import ApprovalPolicy, Fulfilment
    from catalogue.models import ApprovalStep
    from squads.choices import Role
    from tests.factories import MembershipFactory, ProductFactory, UserFactory

    product = ProductFactory(
        slug="access",
        squad=squad,
        approval_policy=ApprovalPolicy.STEPS,
        fulfilment=Fulfilment.MANUAL,
        form_schema={"type": "object", "properties": {}},
        runbook=None,
    )
    ApprovalStep.objects.create(
        product=product, position=0, name="Leads", squad=other_squad, roles=["platform_lead"]
    )
    order = order_submit(requester=requester, product=product, inputs={})
    lead = MembershipFactory(
        user=UserFactory(username="lena"), squad=other_squad, role=Role.PLATFORM_LEAD
    ).user
    engineer = MembershipFactory(user=UserFactory(username="ed"), squad=other_squad, role=Role.ENGINEER).user

    for person, sees in ((lead, True), (engineer, False)):
        api = api_for(person)
        detail = api.get(f"/api/v1/orders/{order.pk}/")
        listed = [row["id"] for row in api.get("/api/v1/orders/?status=pending_approval").json()["results"]]
        client.force_login(person)
        page = client.get(f"/orders/{order.pk}/")
        assert (detail.status_code, order.pk in listed, page.status_code) == (
            (200, True, 200) if sees else (404, False, 404)
        ), person
