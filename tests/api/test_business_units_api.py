"""Business units and quotas through the API: the ``business_unit`` field
of a placement (required only for a member of several units), the unit on
orders and instances, quota refusals as 400s that say why, and over-quota
orders sent to approval."""

from __future__ import annotations

import pytest

from catalogue.choices import OverQuota
from portal.consumption.services import business_unit_add_members
from portal.orders.models import Order
from tests.consumption import count_quota, total_quota, unit
from tests.instances import create

pytestmark = pytest.mark.django_db

INPUTS = {"db_name": "ledger", "admin_password": "correct-horse-battery"}


@pytest.fixture
def finance(requester):
    return unit("finance", requester, name="Finance", cost_centre="CC-100")


@pytest.fixture
def logistics(db):
    return unit("logistics", name="Logistics")


def order(client, **body):
    return client.post("/api/v1/orders/", {"product": "postgres", "inputs": INPUTS, **body}, format="json")


def test_a_member_of_one_unit_orders_for_it_and_the_order_says_so(api_for, requester, database, finance):
    response = order(api_for(requester))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["business_unit"] == "finance" and body["quota_excess"] == ""
    listed = api_for(requester).get("/api/v1/orders/").json()["results"][0]
    assert listed["business_unit"] == "finance"


def test_a_member_of_no_unit_orders_unassigned(api_for, outsider, database, finance):
    response = order(api_for(outsider))
    assert response.status_code == 201 and response.json()["business_unit"] is None


def test_a_member_of_several_must_name_one_a_400_naming_the_field(
    api_for, requester, database, finance, logistics
):
    business_unit_add_members(unit=logistics, users=[requester])
    client = api_for(requester)
    response = order(client)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "business_unit" and "several business units" in body["errors"]["business_unit"][0]
    assert not Order.objects.exists()
    chosen = order(client, business_unit="logistics")
    assert chosen.status_code == 201 and chosen.json()["business_unit"] == "logistics"


def test_a_unit_one_is_not_a_member_of_is_a_400(api_for, requester, database, finance, logistics):
    for slug in ("logistics", "nowhere"):
        response = order(api_for(requester), business_unit=slug)
        assert response.status_code == 400
        assert response.json()["errors"]["business_unit"] == [
            f"You are not a member of a business unit {slug!r}."
        ]
    response = order(api_for(requester), business_unit="not a slug")
    assert response.status_code == 400 and "business_unit" in response.json()["errors"]
    assert not Order.objects.exists()


def test_over_quota_is_a_400_naming_the_quota_its_limit_and_the_use(api_for, requester, database, finance):
    count_quota(finance, database, 1)
    client = api_for(requester)
    assert order(client).status_code == 201
    response = order(client)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "quota_exceeded"
    assert body["detail"] == (
        "Finance's quota for PostgreSQL database is 1 instances, and 1 are in use or on order: "
        "this order would make 2 (1 over)."
    )
    assert Order.objects.count() == 1


def test_over_quota_with_approval_is_placed_pending_with_the_excess(api_for, requester, database, finance):
    database.over_quota = OverQuota.APPROVAL
    database.save()
    total_quota(finance, database, "size_gb", 15)
    response = order(api_for(requester), inputs={**INPUTS, "size_gb": 20})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending_approval" and body["approval_policy"] == "squad"
    assert "15 size_gb in total" in body["quota_excess"] and "(5 over)" in body["quota_excess"]
    assert body["history"][0]["note"].startswith("Submitted over quota:")


def test_an_idempotency_key_reused_for_another_unit_is_refused(
    api_for, requester, database, finance, logistics
):
    business_unit_add_members(unit=logistics, users=[requester])
    client = api_for(requester)
    first = client.post(
        "/api/v1/orders/",
        {"product": "postgres", "inputs": INPUTS, "business_unit": "finance"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    again = client.post(
        "/api/v1/orders/",
        {"product": "postgres", "inputs": INPUTS, "business_unit": "logistics"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert (first.status_code, again.status_code) == (201, 422)
    assert Order.objects.count() == 1


def test_instances_show_their_unit_and_operations_count_against_it(
    api_for, requester, database, finance, logistics
):
    instance = create(database, requester)
    client = api_for(requester)
    assert client.get(f"/api/v1/instances/{instance.pk}/").json()["business_unit"] == "finance"
    assert client.get("/api/v1/instances/").json()["results"][0]["business_unit"] == "finance"
    path = f"/api/v1/instances/{instance.pk}/operations/"
    wrong = client.post(
        path, {"operation": "resize", "inputs": {"size_gb": 20}, "business_unit": "logistics"}, format="json"
    )
    assert wrong.status_code == 400 and "charged to Finance" in wrong.json()["errors"]["business_unit"][0]
    assert not Order.objects.filter(operation__isnull=False).exists()
    placed = client.post(
        path, {"operation": "resize", "inputs": {"size_gb": 20}, "business_unit": "finance"}, format="json"
    )
    assert placed.status_code == 201 and placed.json()["business_unit"] == "finance"


def test_an_operation_over_quota_is_a_400(api_for, requester, database, finance):
    instance = create(database, requester, size_gb=10)
    total_quota(finance, database, "size_gb", 50)
    response = api_for(requester).post(
        f"/api/v1/instances/{instance.pk}/operations/",
        {"operation": "resize", "inputs": {"size_gb": 60}},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "quota_exceeded"
    assert "this order adds 50, making 60 (10 over)" in response.json()["detail"]


def test_me_lists_my_units(api_for, requester, finance, logistics):
    assert api_for(requester).get("/api/v1/me/").json()["business_units"] == [
        {"slug": "finance", "name": "Finance"}
    ]


def test_orders_and_instances_filter_by_unit(api_for, requester, member, outsider, database, finance):
    create(database, requester)
    create(database, outsider)
    client = api_for(requester)
    orders = client.get("/api/v1/orders/?business_unit=finance").json()["results"]
    assert [order["business_unit"] for order in orders] == ["finance"]
    assert client.get("/api/v1/orders/?business_unit=logistics").json()["results"] == []
    squad = api_for(member)
    instances = squad.get("/api/v1/instances/?business_unit=finance").json()["results"]
    assert [instance["owner"] for instance in instances] == ["rita"]
