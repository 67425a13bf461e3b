"""The instance API: what you see, in pages and filtered; ordering an
operation (201 with the order, Idempotency-Key honoured); and every refusal
a JSON body naming the problem, with nothing changed."""

from __future__ import annotations

import json

import pytest

from catalogue.inputs import MASK
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.instances.services import operation_order
from portal.orders.models import Order
from tests.factories import UserFactory
from tests.instances import create, create_app, make_app, play, reporting

pytestmark = pytest.mark.django_db


def post(client, instance, body, **headers):
    return client.post(
        f"/api/v1/instances/{instance.pk}/operations/",
        data=json.dumps(body),
        content_type="application/json",
        **headers,
    )


def state(instance):
    instance.refresh_from_db()
    return (instance.state, instance.busy_with_id, instance.attributes, Order.objects.count())


@pytest.fixture
def instance(database, requester):
    return create(
        database, requester, reported=reporting("orders-db", size_gb=20, admin_password="Secret-123456")
    )


def test_the_list_shows_mine_newest_first_with_cost_and_masked_secrets(
    api_for, requester, instance, database
):
    other = create(database, UserFactory(username="olga"))
    response = api_for(requester).get("/api/v1/instances/")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["id"] for item in results] == [instance.pk]
    item = results[0]
    assert (item["name"], item["state"], item["owner"], item["monthly_cost"]) == (
        "orders-db",
        "active",
        "rita",
        "40.00",
    )
    assert item["attributes"] == {"size_gb": 20, "admin_password": MASK}
    assert item["product"] == {"slug": "postgres", "name": "PostgreSQL database"}
    assert "Secret-123456" not in response.content.decode()
    assert other.pk not in [entry["id"] for entry in results]


def test_the_squad_sees_its_products_instances_filtered_and_paged(
    api_for, member, requester, instance, database
):
    second = create(database, requester)
    client = api_for(member)
    page = client.get("/api/v1/instances/?page_size=1").json()
    assert [item["id"] for item in page["results"]] == [second.pk]
    following = client.get(page["next"]).json()
    assert [item["id"] for item in following["results"]] == [instance.pk]
    assert [
        i["id"]
        for i in client.get("/api/v1/instances/?owner=rita&state=active&product=postgres").json()["results"]
    ] == [
        second.pk,
        instance.pk,
    ]
    assert client.get("/api/v1/instances/?state=failed").json()["results"] == []
    assert client.get("/api/v1/instances/?state=nonsense").status_code == 400
    ServiceInstance.objects.filter(pk=instance.pk).update(name="reporting-db")
    named = client.get("/api/v1/instances/?name=reporting-db&page_size=1").json()["results"]
    assert [item["id"] for item in named] == [instance.pk]
    assert client.get("/api/v1/instances/?name=no-such-instance").json()["results"] == []


def test_the_list_costs_the_same_queries_whatever_its_length(
    api_for, requester, instance, database, django_assert_max_num_queries
):
    client = api_for(requester)
    with django_assert_max_num_queries(6) as few:
        client.get("/api/v1/instances/")
    for _ in range(5):
        create(database, requester)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/v1/instances/").json()["results"]) == 6


def test_the_detail_has_the_history_and_the_operations_prefilled_from_attributes(
    api_for, requester, instance
):
    body = api_for(requester).get(f"/api/v1/instances/{instance.pk}/").json()
    assert [(event["from_state"], event["to_state"]) for event in body["history"]] == [
        ("", "provisioning"),
        ("provisioning", "active"),
    ]
    operations = {operation["slug"]: operation for operation in body["operations"]}
    assert list(operations) == ["resize", "extend", "drop"]
    assert operations["resize"]["form_schema"]["properties"]["size_gb"]["default"] == 20


def test_ordering_an_operation_answers_201_with_the_order(api_for, requester, instance):
    response = post(api_for(requester), instance, {"operation": "resize", "inputs": {"size_gb": 40}})
    assert response.status_code == 201, response.content
    order = response.json()
    assert (order["instance"], order["operation"], order["status"]) == (instance.pk, "resize", "queued")
    assert order["inputs"] == {"size_gb": 40}
    assert response["Location"].endswith(f"/api/v1/orders/{order['id']}/")
    assert api_for(requester).get(f"/api/v1/orders/{order['id']}/").json()["operation"] == "resize"
    listed = api_for(requester).get("/api/v1/orders/").json()["results"]
    assert {(item["instance"], item["operation"]) for item in listed} == {
        (instance.pk, "resize"),
        (instance.pk, None),
    }


def test_a_field_left_out_takes_the_instances_attribute(api_for, requester, instance):
    response = post(api_for(requester), instance, {"operation": "resize"})
    assert response.status_code == 201, response.content
    assert response.json()["inputs"] == {"size_gb": 20}


def test_the_same_idempotency_key_answers_the_first_order(api_for, requester, instance):
    client = api_for(requester)
    first = post(
        client, instance, {"operation": "resize", "inputs": {"size_gb": 40}}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = post(
        client, instance, {"operation": "resize", "inputs": {"size_gb": 40}}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = post(
        client, instance, {"operation": "resize", "inputs": {"size_gb": 50}}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other.status_code == 422
    assert Order.objects.filter(operation__isnull=False).count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        ({"operation": "resize", "inputs": {"size_gb": 5}}, 400, "invalid_inputs", None),
        ({"operation": "explode", "inputs": {}}, 400, "unknown_operation", "has no operation 'explode'"),
        ({"operation": "resize", "input": {}}, 400, None, None),
    ],
)
def test_a_refused_operation_says_why_and_changes_nothing(
    api_for, requester, instance, body, status, code, says
):
    before = state(instance)
    response = post(api_for(requester), instance, body)
    assert response.status_code == status
    payload = response.json()
    assert payload["detail"] and payload["code"]
    if code:
        assert payload["code"] == code
    if code == "invalid_inputs":
        assert payload["errors"]["inputs"] == {"size_gb": ["Must be at least 10."]}
    if says:
        assert says in json.dumps(payload)
    assert state(instance) == before


def test_another_operation_running_is_a_409_naming_it(api_for, requester, instance):
    running = post(api_for(requester), instance, {"operation": "extend"}).json()
    before = state(instance)
    response = post(api_for(requester), instance, {"operation": "resize", "inputs": {"size_gb": 40}})
    assert response.status_code == 409
    assert response.json()["code"] == "instance_busy"
    assert f"order #{running['id']}" in response.json()["detail"]
    assert state(instance) == before


def test_a_decommissioned_instance_is_a_409(api_for, requester, instance):
    play(Order.objects.get(pk=post(api_for(requester), instance, {"operation": "drop"}).json()["id"]))
    before = state(instance)
    assert before[0] == InstanceState.DECOMMISSIONED
    response = post(api_for(requester), instance, {"operation": "resize", "inputs": {"size_gb": 40}})
    assert response.status_code == 409
    assert (
        response.json()["code"] == "instance_not_operable" and "decommissioned" in response.json()["detail"]
    )
    assert state(instance) == before


def test_someone_elses_instance_is_a_404_everywhere(api_for, outsider, other_member, instance):
    before = state(instance)
    for stranger in (outsider, other_member):
        client = api_for(stranger)
        assert client.get(f"/api/v1/instances/{instance.pk}/").status_code == 404
        response = post(client, instance, {"operation": "resize", "inputs": {"size_gb": 40}})
        assert response.status_code == 404 and response.json() == {
            "detail": "No such instance.",
            "code": "not_found",
        }
    assert state(instance) == before
    assert ServiceInstance.objects.count() == 1


def test_the_detail_carries_what_it_depends_on_that_you_see_and_how_many_depend_on_it(
    api_for, requester, member, other_member, instance, other_squad
):
    """Nora (of the database's squad) runs an application server of another
    squad's product on Rita's database: Rita may not see it, Otto (of that
    other squad) may not see the database."""
    noras_app = create_app(make_app(other_squad), member, instance.pk, name="noras-app")

    as_rita = api_for(requester).get(f"/api/v1/instances/{instance.pk}/").json()
    assert (as_rita["depends_on"], as_rita["dependents_count"]) == ([], 1)
    assert "noras-app" not in json.dumps(as_rita)
    as_nora = api_for(member).get(f"/api/v1/instances/{noras_app.pk}/").json()
    assert (as_nora["depends_on"], as_nora["dependents_count"]) == ([instance.pk], 0)
    as_otto = api_for(other_member).get(f"/api/v1/instances/{noras_app.pk}/").json()
    assert as_otto["depends_on"] == [], "a dependency the caller may not see is left out"

    play(operation_order(actor=member, instance=noras_app, operation="retire", inputs={}))
    assert api_for(requester).get(f"/api/v1/instances/{instance.pk}/").json()["dependents_count"] == 0
