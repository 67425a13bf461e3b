"""Handing an instance over through the API: offer (201 with the transfer),
accept, decline, withdraw (200 with it), ``pending_transfer`` on the
instance's JSON, and every refusal a JSON body naming the problem with
nothing changed; anyone who may not see the instance gets a 404."""

from __future__ import annotations

import json

import pytest

from portal.api.instances.serializers import InstanceDetailSerializer, InstanceSerializer
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.transfers import transfer_offer
from portal.notifications.models import Notification
from portal.orders.models import Order
from tests.factories import UserFactory
from tests.instances import create

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(database, requester):
    return create(database, requester)


@pytest.fixture
def offered(instance, requester, outsider):
    transfer_offer(actor=requester, instance=instance, to=outsider, note="Billing is yours now.")
    return instance


def post(client, instance, command: str, body: object = None):
    path = f"/api/v1/instances/{instance.pk}/transfer/" + (f"{command}/" if command else "")
    if body is None:
        return client.post(path)
    return client.post(path, data=json.dumps(body), content_type="application/json")


def snapshot(instance: ServiceInstance) -> dict:
    return {
        "instance": ServiceInstance.objects.filter(pk=instance.pk).values().get(),
        "transfers": list(InstanceTransfer.objects.order_by("pk").values()),
        "history": InstanceEvent.objects.count(),
        "notifications": Notification.objects.count(),
        "orders": Order.objects.count(),
    }


def test_offering_answers_201_with_the_transfer(api_for, requester, outsider, instance):
    response = post(api_for(requester), instance, "", {"to": "oscar", "note": "Yours now."})
    assert response.status_code == 201, response.content
    body = response.json()
    transfer = InstanceTransfer.objects.get()
    assert body == {
        "id": transfer.pk,
        "instance": instance.pk,
        "state": "pending",
        "from": "rita",
        "to": "oscar",
        "note": "Yours now.",
        "created_at": body["created_at"],
        "decided_at": None,
    }
    assert body["created_at"].endswith("Z")


def test_the_instance_shows_its_pending_transfer_in_the_list_and_the_detail(
    api_for, requester, outsider, member, offered
):
    for user in (requester, outsider, member):
        client = api_for(user)
        listed = client.get("/api/v1/instances/").json()["results"]
        assert [item["id"] for item in listed] == [offered.pk], user
        detail = client.get(f"/api/v1/instances/{offered.pk}/").json()
        for body in (listed[0], detail):
            pending = body["pending_transfer"]
            assert (pending["from"], pending["to"], pending["note"]) == (
                "rita",
                "oscar",
                "Billing is yours now.",
            )
            assert pending["created_at"].endswith("Z")
    # The recipient looks but orders nothing.
    assert api_for(outsider).get(f"/api/v1/instances/{offered.pk}/").json()["operations"] == []


def test_pending_transfer_is_null_when_nothing_is_offered(api_for, requester, instance):
    client = api_for(requester)
    assert client.get("/api/v1/instances/").json()["results"][0]["pending_transfer"] is None
    assert client.get(f"/api/v1/instances/{instance.pk}/").json()["pending_transfer"] is None


def test_the_hand_built_instances_have_exactly_the_declared_fields(api_for, requester, offered):
    client = api_for(requester)
    listed = client.get("/api/v1/instances/").json()["results"][0]
    detail = client.get(f"/api/v1/instances/{offered.pk}/").json()
    assert list(listed) == list(InstanceSerializer().fields)
    assert list(detail) == list(InstanceDetailSerializer().fields)
    assert list(listed["pending_transfer"]) == ["from", "to", "note", "created_at"]


def test_the_recipient_accepts_and_owns_it(api_for, outsider, requester, offered):
    response = post(api_for(outsider), offered, "accept")
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["decided_at"] is not None) == ("accepted", True)
    assert ServiceInstance.objects.get(pk=offered.pk).owner == outsider
    body = api_for(outsider).get(f"/api/v1/instances/{offered.pk}/").json()
    assert body["owner"] == "oscar" and body["pending_transfer"] is None
    assert [operation["slug"] for operation in body["operations"]] == ["resize", "extend", "drop"]
    assert "Transferred from rita to oscar" in body["history"][-1]["message"]
    assert api_for(requester).get(f"/api/v1/instances/{offered.pk}/").status_code == 404
    assert api_for(requester).get("/api/v1/instances/").json()["results"] == []


def test_the_recipient_declines(api_for, outsider, requester, offered):
    response = post(api_for(outsider), offered, "decline")
    assert response.status_code == 200 and response.json()["state"] == "declined"
    assert ServiceInstance.objects.get(pk=offered.pk).owner == requester
    assert api_for(outsider).get(f"/api/v1/instances/{offered.pk}/").status_code == 404


def test_the_owner_withdraws(api_for, requester, offered):
    response = post(api_for(requester), offered, "withdraw")
    assert response.status_code == 200 and response.json()["state"] == "withdrawn"
    assert api_for(requester).get(f"/api/v1/instances/{offered.pk}/").json()["pending_transfer"] is None


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"to": "nobody-here"}, "to", "Nobody has the username or email address 'nobody-here'."),
        ({"to": "rita"}, "to", "You own orders-db already"),
        ({"to": "gone"}, "to", "gone's account is deactivated"),
        ({"to": ""}, "to", None),
        ({}, "to", None),
        ({"to": 7}, "to", None),
        ({"to": "oscar", "note": "x" * 2001}, "note", None),
        ({"to": "oscar", "recipient": "oscar"}, "recipient", "Unknown field"),
    ],
)
def test_a_bad_offer_is_a_400_naming_the_field_and_changes_nothing(
    api_for, requester, outsider, instance, body, field, says
):
    UserFactory(username="gone", is_active=False)
    before = snapshot(instance)
    response = post(api_for(requester), instance, "", body)
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["detail"] and payload["code"] and list(payload["errors"]) == [field]
    if says:
        assert says in payload["errors"][field][0]
    assert snapshot(instance) == before


@pytest.mark.parametrize(
    ("who", "command", "status", "code", "says"),
    [
        ("requester", "", 409, "transfer_pending", "already offered to oscar"),
        ("member", "", 403, "not_allowed", "Only its owner, rita, may offer"),
        ("requester", "accept", 403, "not_allowed", "only they may accept it"),
        ("member", "decline", 403, "not_allowed", "only they may decline it"),
        ("outsider", "withdraw", 403, "not_allowed", "decline it instead"),
        ("admin_user", "withdraw", 403, "not_allowed", "Only its owner, rita, may withdraw"),
    ],
)
def test_a_refused_command_says_why_and_changes_nothing(
    request, api_for, offered, who, command, status, code, says
):
    before = snapshot(offered)
    response = post(
        api_for(request.getfixturevalue(who)), offered, command, {"to": "otto"} if not command else None
    )
    assert response.status_code == status, response.content
    assert response.json()["code"] == code and says in response.json()["detail"]
    assert snapshot(offered) == before


def test_deciding_an_offer_decided_meanwhile_is_a_409_saying_what_happened(
    api_for, requester, offered, member
):
    post(api_for(requester), offered, "withdraw")
    before = snapshot(offered)
    response = post(api_for(requester), offered, "withdraw")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "rita withdrew the offer of orders-db.",
        "code": "no_pending_transfer",
    }
    response = post(api_for(member), offered, "accept")
    assert response.status_code == 409 and response.json()["detail"] == "orders-db is not offered to anyone."
    assert snapshot(offered) == before


def test_accepting_while_an_order_works_on_it_is_a_409_naming_the_order(
    api_for, requester, outsider, offered
):
    running = api_for(requester).post(
        f"/api/v1/instances/{offered.pk}/operations/",
        data=json.dumps({"operation": "extend"}),
        content_type="application/json",
    )
    before = snapshot(offered)
    response = post(api_for(outsider), offered, "accept")
    assert response.status_code == 409 and response.json()["code"] == "instance_busy"
    assert f"order #{running.json()['id']}" in response.json()["detail"]
    assert snapshot(offered) == before


def test_a_decision_takes_no_body(api_for, outsider, offered):
    before = snapshot(offered)
    response = post(api_for(outsider), offered, "accept", {"really": True})
    assert response.status_code == 400 and "really" in response.json()["errors"]
    assert snapshot(offered) == before


@pytest.mark.parametrize("command", ["", "accept", "decline", "withdraw"])
def test_someone_elses_instance_is_a_404_for_every_command(api_for, other_member, offered, command):
    stranger = UserFactory(username="stan")
    before = snapshot(offered)
    for user in (other_member, stranger):
        response = post(api_for(user), offered, command, {"to": "stan"} if not command else None)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such instance.", "code": "not_found"}
    assert snapshot(offered) == before


def test_the_list_costs_the_same_queries_with_pending_transfers(
    api_for, requester, outsider, database, django_assert_max_num_queries
):
    client = api_for(requester)
    transfer_offer(actor=requester, instance=create(database, requester), to=outsider)
    with django_assert_max_num_queries(7) as few:
        client.get("/api/v1/instances/")
    for _ in range(4):
        transfer_offer(actor=requester, instance=create(database, requester), to=outsider)
    with django_assert_max_num_queries(len(few.captured_queries)):
        results = client.get("/api/v1/instances/").json()["results"]
    assert [item["pending_transfer"]["to"] for item in results] == ["oscar"] * 5
