"""Every endpoint x every role: who gets what, and that a refusal changes nothing.

Roles are the base cast: the order's requester, a product owner of the
owning squad, a member of another squad, an outsider, an anonymous caller and
an admin. Someone who may not see an order gets a 404 (its existence is not
revealed); someone who sees it but may not act gets a 403.
"""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from catalogue.choices import OperationKind
from catalogue.models import Operation
from portal.instances.choices import InstanceState
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.transfers import transfer_offer
from portal.integrations.models import WebhookDelivery, WebhookSubscription
from portal.integrations.webhooks.subscriptions import webhook_ping, webhook_subscribe
from portal.notifications.models import Notification
from portal.orders.choices import OrderStatus
from portal.orders.fulfilment import order_claim
from portal.orders.models import IdempotencyRecord, Order, OrderDryRun, OrderEvent
from portal.orders.submission import order_submit
from runbooks.models import Run
from tests.factories import RunbookFactory

pytestmark = pytest.mark.django_db

ROLES = ["requester", "member", "other_member", "outsider", "anonymous", "admin"]
SEE_ORDER = {
    "requester": 200,
    "member": 200,
    "other_member": 404,
    "outsider": 404,
    "anonymous": 401,
    "admin": 200,
}
ANY_USER = {role: (401 if role == "anonymous" else 200) for role in ROLES}
SQUAD_DECIDES = {**SEE_ORDER, "requester": 403}
# Approvals follow the order's approval steps (portal.orders.approval_steps): the owning
# squad's product owners and SMEs; an admin sees the order but is no approver.
APPROVERS_DECIDE = {**SQUAD_DECIDES, "admin": 403}
# An offered instance: its recipient (the outsider) decides; who else sees it may not.
RECIPIENT_DECIDES = {**SEE_ORDER, "requester": 403, "member": 403, "outsider": 200, "admin": 403}

# name: (method, path, kind of order it needs, body, expected status by role)
CASES = {
    "me": ("get", "/api/v1/me/", None, None, ANY_USER),
    "products": ("get", "/api/v1/products/", None, None, ANY_USER),
    "product": ("get", "/api/v1/products/vm/", None, None, ANY_USER),
    "squads": ("get", "/api/v1/squads/", None, None, ANY_USER),
    "squad": ("get", "/api/v1/squads/network/", None, None, ANY_USER),
    "runbooks": ("get", "/api/v1/runbooks/", None, None, ANY_USER),
    "runbook": ("get", "/api/v1/runbooks/create-vlan/", None, None, ANY_USER),
    "orders": ("get", "/api/v1/orders/", "queued", None, ANY_USER),
    "order": ("get", "/api/v1/orders/{id}/", "queued", None, SEE_ORDER),
    "events": ("get", "/api/v1/orders/{id}/events/", "queued", None, SEE_ORDER),
    "place": (
        "post",
        "/api/v1/orders/",
        None,
        {"product": "vm", "inputs": {"hostname": "web-9"}},
        {**ANY_USER, **{role: 201 for role in ROLES if role != "anonymous"}},
    ),
    "cancel": ("post", "/api/v1/orders/{id}/cancel/", "queued", {}, SEE_ORDER),
    "retry": ("post", "/api/v1/orders/{id}/retry/", "failed", {}, SEE_ORDER),
    "approve": ("post", "/api/v1/orders/{id}/approve/", "pending", {}, APPROVERS_DECIDE),
    "reject": ("post", "/api/v1/orders/{id}/reject/", "pending", {"reason": "no budget"}, APPROVERS_DECIDE),
    "claim": ("post", "/api/v1/orders/{id}/claim/", "manual", {}, SQUAD_DECIDES),
    "complete": (
        "post",
        "/api/v1/orders/{id}/complete/",
        "manual",
        {"note": "done", "claim": True},
        SQUAD_DECIDES,
    ),
    "fail": (
        "post",
        "/api/v1/orders/{id}/fail/",
        "manual",
        {"reason": "no capacity", "claim": True},
        SQUAD_DECIDES,
    ),
    # Previewing is for those who decide and the owning squad (an admin too).
    "dry-run": ("post", "/api/v1/orders/{id}/dry-run/", "pending", {}, SQUAD_DECIDES),
    # The member holds the claim; an admin may free it too.
    "release": ("post", "/api/v1/orders/{id}/release/", "claimed", {}, SQUAD_DECIDES),
    "squad metrics": (
        "get",
        "/api/v1/squads/network/metrics/",
        None,
        None,
        {**SEE_ORDER, "requester": 404},
    ),
    "product metrics": ("get", "/api/v1/products/vm/metrics/", None, None, ANY_USER),
    # Cost: leads everything, a unit's members their unit, a squad's members
    # what its products earn; the requester belongs to neither (a 404).
    "cost": (
        "get",
        "/api/v1/cost/",
        None,
        None,
        {**SEE_ORDER, "requester": 404, "other_member": 200},
    ),
    # An instance: its owner, its product's squad and admins see it; the
    # same may order its operations (a platform lead only looks).
    "instances": ("get", "/api/v1/instances/", "instance", None, ANY_USER),
    "instance": ("get", "/api/v1/instances/{id}/", "instance", None, SEE_ORDER),
    "operate": (
        "post",
        "/api/v1/instances/{id}/operations/",
        "instance",
        {"operation": "resize", "inputs": {"size": 4}},
        {**SEE_ORDER, "requester": 201, "member": 201, "admin": 201},
    ),
    # Transfers: only the owner offers and withdraws, only the person it is
    # offered to (the outsider, who sees it meanwhile) accepts or declines;
    # others who see it get a 403, the rest a 404.
    "offer transfer": (
        "post",
        "/api/v1/instances/{id}/transfer/",
        "instance",
        {"to": "otto"},
        {**SEE_ORDER, "requester": 201, "member": 403, "admin": 403},
    ),
    "offered instance": ("get", "/api/v1/instances/{id}/", "offered", None, {**SEE_ORDER, "outsider": 200}),
    "accept transfer": (
        "post",
        "/api/v1/instances/{id}/transfer/accept/",
        "offered",
        None,
        RECIPIENT_DECIDES,
    ),
    "decline transfer": (
        "post",
        "/api/v1/instances/{id}/transfer/decline/",
        "offered",
        None,
        RECIPIENT_DECIDES,
    ),
    "withdraw transfer": (
        "post",
        "/api/v1/instances/{id}/transfer/withdraw/",
        "offered",
        None,
        {**SEE_ORDER, "member": 403, "outsider": 403, "admin": 403},
    ),
    "webhooks": ("get", "/api/v1/webhooks/", None, None, ANY_USER),
    "subscribe": (
        "post",
        "/api/v1/webhooks/",
        None,
        {"url": "https://hooks.example.com/squadron"},
        {**ANY_USER, **{role: 201 for role in ROLES if role != "anonymous"}},
    ),
    "squad webhook": (
        "post",
        "/api/v1/webhooks/",
        None,
        {"url": "https://hooks.example.com/squadron", "squad": "network"},
        {
            "requester": 400,
            "member": 201,
            "other_member": 400,
            "outsider": 400,
            "anonymous": 401,
            "admin": 201,
        },
    ),
    "their webhook": ("get", "/api/v1/webhooks/{webhook}/", None, None, {**SEE_ORDER, "member": 404}),
    "delete their webhook": (
        "delete",
        "/api/v1/webhooks/{webhook}/",
        None,
        None,
        {**SEE_ORDER, "requester": 204, "member": 404, "admin": 204},
    ),
    "pause their webhook": (
        "patch",
        "/api/v1/webhooks/{webhook}/",
        None,
        {"is_active": False},
        {**SEE_ORDER, "member": 404},
    ),
    "ping their webhook": (
        "post",
        "/api/v1/webhooks/{webhook}/ping/",
        None,
        {},
        {**SEE_ORDER, "requester": 202, "member": 404, "admin": 202},
    ),
    "rotate their secret": (
        "post",
        "/api/v1/webhooks/{webhook}/rotate-secret/",
        None,
        {},
        {**SEE_ORDER, "member": 404},
    ),
    "redeliver their delivery": (
        "post",
        "/api/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver/",
        None,
        {},
        {**SEE_ORDER, "requester": 202, "member": 404, "admin": 202},
    ),
    "their deliveries": (
        "get",
        "/api/v1/webhooks/{webhook}/deliveries/",
        None,
        None,
        {**SEE_ORDER, "member": 404},
    ),
}


def world(request, kind):
    """The cast, the products and (if ``kind``) an order in that state."""
    fixture = {"admin": "admin_user"}
    users = {role: request.getfixturevalue(fixture.get(role, role)) for role in ROLES if role != "anonymous"}
    users["anonymous"] = None
    runbook = RunbookFactory(slug="create-vlan", squad=request.getfixturevalue("squad"))
    product = request.getfixturevalue("product")
    product.runbook = runbook
    product.save()
    requester = users["requester"]
    order = None
    if kind == "queued":
        order = order_submit(requester=requester, product=product, inputs={"hostname": "a"})
    elif kind == "failed":
        order = order_submit(requester=requester, product=product, inputs={"hostname": "a"})
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.FAILED, finished_at=timezone.now())
    elif kind == "pending":
        approval = request.getfixturevalue("approval_product")
        approval.runbook.supports_check_mode = True
        approval.runbook.save()
        order = order_submit(requester=requester, product=approval, inputs={"hostname": "a"})
    elif kind in ("instance", "offered"):
        product.instance = True
        product.save()
        Operation.objects.create(
            product=product,
            slug="resize",
            name="Resize",
            kind=OperationKind.UPDATE,
            runbook=runbook,
            form_schema={"type": "object", "properties": {"size": {"type": "integer"}}},
        )
        order = ServiceInstance.objects.create(
            product=product, owner=requester, name="web-01", state=InstanceState.ACTIVE
        )
        if kind == "offered":
            transfer_offer(actor=requester, instance=order, to=users["outsider"])
    elif kind in ("manual", "claimed"):
        manual = request.getfixturevalue("manual_product")
        order = order_submit(requester=requester, product=manual, inputs={"hostname": "a"})
        if kind == "claimed":
            order = order_claim(order=order, actor=users["member"])
    webhook, _ = webhook_subscribe(actor=requester, url="https://hooks.example.com/rita")
    delivery = webhook_ping(subscription=webhook, actor=requester)
    return users, order, webhook, delivery


def state() -> dict:
    return {
        "orders": list(Order.objects.order_by("pk").values()),
        "events": list(OrderEvent.objects.order_by("pk").values()),
        "idempotency": IdempotencyRecord.objects.count(),
        "dry runs": list(OrderDryRun.objects.order_by("pk").values()),
        "runs": list(Run.objects.order_by("pk").values()),
        "webhooks": list(WebhookSubscription.objects.order_by("pk").values()),
        "deliveries": list(WebhookDelivery.objects.order_by("pk").values()),
        "instances": list(ServiceInstance.objects.order_by("pk").values()),
        "instance events": list(InstanceEvent.objects.order_by("pk").values()),
        "transfers": list(InstanceTransfer.objects.order_by("pk").values()),
        "notifications": list(Notification.objects.order_by("pk").values()),
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(CASES))
def test_permission_matrix(request, api_for, case, role):
    method, path, kind, body, expected = CASES[case]
    users, order, webhook, delivery = world(request, kind)
    client = api_for(users[role])
    url = path.format(id=order.pk if order else 0, webhook=webhook.pk, delivery=delivery.delivery_id)
    before = state()
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == expected[role], (case, role, response.content)
    if response.status_code >= 400:
        assert state() == before, f"{case} refused to {role} but something changed"
        assert response.json()["code"]
    if case == "instances" and response.status_code == 200:
        ids = [item["id"] for item in response.json()["results"]]
        assert ids == ([order.pk] if SEE_ORDER[role] == 200 else [])
    if case == "offer transfer" and response.status_code == 201:
        assert InstanceTransfer.objects.get().to_user == users["other_member"]
    if case in ("accept transfer", "decline transfer", "withdraw transfer") and response.status_code == 200:
        assert response.json()["state"] == {"accept": "accepted", "decline": "declined"}.get(
            case.split()[0], "withdrawn"
        )
    if case == "operate" and response.status_code == 201:
        assert response.json()["instance"] == order.pk and response.json()["operation"] == "resize"
    if case == "orders" and response.status_code == 200:
        ids = [item["id"] for item in response.json()["results"]]
        assert ids == ([order.pk] if SEE_ORDER[role] == 200 else [])
