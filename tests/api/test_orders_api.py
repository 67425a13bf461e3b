"""Ordering and following orders through the API: creation, per-field
errors, bad input that never reaches a 500, visibility, filters and paging."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.choices import ProductStatus
from catalogue.inputs import MASK
from portal.orders.cancellation import order_cancel
from portal.orders.models import Order, OrderEvent
from portal.orders.submission import order_submit
from runbooks.models import RunEvent
from runbooks.services import run_create
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def place(client, body, **headers):
    return client.post("/api/v1/orders/", data=json.dumps(body), content_type="application/json", **headers)


def submit(product, user, hostname="web-01"):
    return order_submit(requester=user, product=product, inputs={"hostname": hostname})


# --- Creation ---------------------------------------------------------------------------


def test_order_is_placed_and_answered_with_its_detail(api_for, requester, product):
    response = place(
        api_for(requester), {"product": "vm", "inputs": {"hostname": "web-01", "token": "s3cret"}}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get()
    assert body["id"] == order.pk
    assert body["status"] == "queued"
    assert body["product"] == {"slug": "vm", "name": "Virtual machine"}
    assert body["requester"] == "rita"
    assert body["inputs"] == {"hostname": "web-01", "size": 2, "token": MASK}
    assert "s3cret" not in response.content.decode()
    assert response["Location"] == body["url"] == f"http://testserver/api/v1/orders/{order.pk}/"
    assert body["actions"] == ["cancel"]
    assert [event["to_status"] for event in body["history"]] == ["queued"]


def test_inputs_that_do_not_fit_the_form_get_per_field_errors_and_create_nothing(api_for, requester, product):
    response = place(
        api_for(requester),
        {"product": "vm", "inputs": {"hostname": "not a host!", "size": "big", "colour": "red"}},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_inputs"
    assert body["errors"]["inputs"] == {
        "hostname": ["Must be a valid hostname."],
        "size": ["Must be of type integer."],
        "colour": ["This field is not part of the product's form."],
    }
    assert Order.objects.count() == 0 and OrderEvent.objects.count() == 0


def test_missing_required_input_is_named(api_for, requester, product):
    response = place(api_for(requester), {"product": "vm"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"inputs": {"hostname": ["This field is required."]}}


@pytest.mark.parametrize("status", [ProductStatus.DRAFT, ProductStatus.RETIRED])
def test_unknown_or_unpublished_product_is_a_400_naming_the_product(api_for, requester, product, status):
    product.status = status
    product.save()
    for slug in ("vm", "no-such-product"):
        response = place(api_for(requester), {"product": slug, "inputs": {"hostname": "a"}})
        assert response.status_code == 400
        assert response.json()["errors"] == {"product": [f"There is no published product '{slug}'."]}
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"inputs": {"hostname": "a"}}, "product"),
        ({"product": 42, "inputs": {}}, "product"),
        ({"product": ["vm"]}, "product"),
        ({"product": "vm", "inputs": ["web-01"]}, "inputs"),
        ({"product": "vm", "inputs": "web-01"}, "inputs"),
        ({"product": "not a slug!"}, "product"),
        # A misspelt or unknown field is named, not ignored as if left out.
        ({"product": "vm", "input": {"hostname": "web-01"}}, "input"),
        ({"product": "vm", "inputs": {"hostname": "web-01"}, "priority": "high"}, "priority"),
    ],
)
def test_wrong_types_are_refused_with_the_field_named(api_for, requester, product, body, field):
    response = place(api_for(requester), body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "raw, message",
    [
        (b'{"product": "vm", ', "not valid JSON"),
        (b"[1, 2", "not valid JSON"),
        (b'{"product": NaN}', "not valid JSON"),
        (b'\xff\xfe{"product"', "not valid utf-8"),
        (b'{"product": "v\\u0000m"}', "NUL"),
        # Half a surrogate pair is valid JSON but not text: saved, it would make
        # every answer that shows the order fail, and Ansible cannot read it.
        (b'{"product": "vm", "inputs": {"hostname": "vm-1", "notes": "\\ud800 x"}}', "surrogates"),
        (b'{"product": "vm", "inputs": {"\\udc00": "x"}}', "surrogates"),
        (b'{"product": "vm", "inputs": {"hostname": ' + b"[" * 40 + b"]" * 40 + b"}}", "nested deeper"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
    ],
)
def test_malformed_bodies_are_a_400_that_says_why(api_for, requester, product, raw, message):
    response = api_for(requester).post("/api/v1/orders/", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["detail"]
    assert Order.objects.count() == 0


def test_a_body_above_the_limit_is_a_413(api_for, requester, product, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    body = {"product": "vm", "inputs": {"hostname": "a" * 4000}}
    response = place(api_for(requester), body)
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than 2048 bytes.",
        "code": "payload_too_large",
    }
    assert Order.objects.count() == 0


def test_a_body_that_is_not_json_is_a_415(api_for, requester, product):
    response = api_for(requester).post("/api/v1/orders/", data="product=vm", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


# --- Reading -------------------------------------------------------------------------------


def test_requester_sees_only_their_own_orders(api_for, requester, outsider, product):
    mine = submit(product, requester)
    submit(product, outsider)
    response = api_for(requester).get("/api/v1/orders/")
    assert response.status_code == 200
    assert [order["id"] for order in response.json()["results"]] == [mine.pk]


def test_squad_member_sees_their_squads_orders_and_not_others(
    api_for, requester, member, other_member, product
):
    order = submit(product, requester)
    assert [o["id"] for o in api_for(member).get("/api/v1/orders/").json()["results"]] == [order.pk]
    assert api_for(other_member).get("/api/v1/orders/").json()["results"] == []


def test_another_users_order_is_a_404_not_a_403(api_for, requester, outsider, other_member, product):
    order = submit(product, requester)
    for user in (outsider, other_member):
        client = api_for(user)
        for path in (f"/api/v1/orders/{order.pk}/", f"/api/v1/orders/{order.pk}/events/"):
            response = client.get(path)
            assert response.status_code == 404
            # The same words whether it does not exist or is someone else's,
            # and never a model's class name.
            assert response.json() == {"detail": "No such order.", "code": "not_found"}


def test_unknown_paths_under_the_api_answer_json_404(api_for, requester):
    for path in ("/api/v1/nothing/", "/api/v1/orders/-1/", "/api/v1/orders/abc/", "/api/v1/orders/1%0A/"):
        response = api_for(requester).get(path)
        assert response.status_code == 404
        assert response.content == b'{"detail":"No such API endpoint.","code":"not_found"}'
    assert api_for(requester).get("/api/v1/orders/999999/").json()["detail"] == "No such order."


def test_orders_filter_by_status_product_squad_and_creation_time(api_for, member, requester, squad, product):
    other = ProductFactory(slug="dns", squad=squad, form_schema=product.form_schema)
    first = submit(product, requester)
    second = submit(other, requester)
    order_cancel(order=second, actor=requester)
    Order.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=3))
    client = api_for(member)

    def ids(query):
        response = client.get("/api/v1/orders/" + query)
        assert response.status_code == 200, response.content
        return [order["id"] for order in response.json()["results"]]

    assert ids("?status=cancelled") == [second.pk]
    assert ids("?status=cancelled&status=queued") == [second.pk, first.pk]
    assert ids("?product=vm") == [first.pk]
    assert ids("?squad=network") == [second.pk, first.pk]
    assert ids("?squad=compute") == []
    after = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids("?created_after=" + after.replace("+", "%2B")) == [second.pk]
    assert ids("?ordering=created_at") == [first.pk, second.pk]
    refused = api_for(member).get("/api/v1/orders/?ordering=status")
    assert refused.status_code == 400
    assert refused.json()["errors"]["ordering"] == [
        "Cannot order by status; choose from created_at (prefix - for descending)."
    ]
    assert ids("?requester=rita") == [second.pk, first.pk]


@pytest.mark.parametrize(
    "query", ["?status=bogus", "?created_after=yesterday", "?created_before=2024-13-45", "?page_size=x"]
)
def test_bad_filters_are_a_400_naming_the_parameter(api_for, requester, product, query):
    response = api_for(requester).get("/api/v1/orders/" + query)
    assert response.status_code == 400
    name = query[1:].split("=")[0]
    assert name in response.json()["errors"]


def test_order_pages_walk_every_order_once_even_when_new_ones_arrive(api_for, requester, product):
    orders = [submit(product, requester, f"web-{n}") for n in range(7)]
    Order.objects.update(created_at=timezone.now())  # ties on created_at: the id breaks them
    client = api_for(requester)
    seen = []
    url = "/api/v1/orders/?page_size=3"
    while url:
        page = client.get(url).json()
        seen += [order["id"] for order in page["results"]]
        if len(seen) == 3:
            submit(product, requester, "late")  # arrives between two pages
        url = page["next"]
    assert seen == sorted((order.pk for order in orders), reverse=True)


def test_a_bad_cursor_is_a_400_naming_it(api_for, requester):
    response = api_for(requester).get("/api/v1/orders/?cursor=garbage")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "Invalid cursor" in response.json()["errors"]["cursor"][0]


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-01-01T00:00:00+00:00"]
)
def test_a_made_up_cursor_off_the_calendar_is_a_400_not_a_500(api_for, requester, moment):
    import base64
    from urllib.parse import urlencode

    from portal.integrations.webhooks.subscriptions import webhook_subscribe

    subscription, _ = webhook_subscribe(actor=requester, url="https://cmdb.example.com/in")
    cursor = base64.urlsafe_b64encode(urlencode({"c": moment, "i": 1, "b": "0"}).encode()).decode()
    client = api_for(requester)
    for path in ("/api/v1/orders/", f"/api/v1/webhooks/{subscription.pk}/deliveries/"):
        response = client.get(f"{path}?cursor={cursor}")
        if moment.startswith("2026"):  # a sound cursor: an empty page
            assert response.status_code == 200
        else:
            assert response.status_code == 400 and "Invalid cursor" in response.json()["errors"]["cursor"][0]


def test_an_unexpected_error_under_the_api_answers_json(requester, monkeypatch):
    from django.test import Client

    from portal.api.orders import views

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.OrderViewSet, "list", broken)
    client = Client(raise_request_exception=False)
    client.force_login(requester)
    response = client.get("/api/v1/orders/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "server_error" and "a bug" not in response.content.decode()


def test_order_list_costs_the_same_queries_whatever_the_page_size(
    api_for, requester, member, product, django_assert_max_num_queries
):
    for n in range(30):
        order = submit(product, requester, f"web-{n}")
        if n % 3 == 0:
            order_cancel(order=order, actor=member)
    client = api_for(member)
    client.get("/api/v1/me/")  # the token's first use records last_used_at, once
    for size in (1, 30):
        # token lookup, the member's squads, the page: no COUNT, nothing per order
        with django_assert_max_num_queries(3):
            response = client.get(f"/api/v1/orders/?page_size={size}")
        assert len(response.json()["results"]) == size


def test_run_output_is_paged_in_emission_order_and_resumable(api_for, requester, product):
    order = submit(product, requester)
    for attempt in (1, 2):
        run = run_create(runbook_version=order.runbook_version, masked_inputs={})
        order.order_runs.create(run=run, attempt=attempt)
        RunEvent.objects.bulk_create(
            RunEvent(
                run=run,
                counter=n,
                event="runner_on_ok",
                stdout=f"a{attempt} line {n}",
                created_at=timezone.now(),
            )
            for n in (3, 1, 2)
        )
    client = api_for(requester)
    events = client.get(f"/api/v1/orders/{order.pk}/events/").json()
    assert events["count"] == 6
    assert [(e["attempt"], e["counter"]) for e in events["results"]] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 1),
        (2, 2),
        (2, 3),
    ]
    resumed = client.get(f"/api/v1/orders/{order.pk}/events/?attempt=2&after=1").json()
    assert [e["stdout"] for e in resumed["results"]] == ["a2 line 2", "a2 line 3"]
    paged = client.get(f"/api/v1/orders/{order.pk}/events/?page_size=4&page=2").json()
    assert [(e["attempt"], e["counter"]) for e in paged["results"]] == [(2, 2), (2, 3)]


@pytest.mark.parametrize(
    "query", ["?created_after=2024-01-01T00:00:00%2B19:40", "?created_before=0001-01-01T00:00:00-05:00"]
)
def test_date_times_with_extreme_offsets_or_years_are_handled_not_a_500(api_for, requester, product, query):
    response = api_for(requester).get("/api/v1/orders/" + query)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["errors"]


def test_unknown_paths_answer_json_even_to_a_post_without_csrf(requester, product):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(requester)
    response = client.post("/api/v1/orders/x/approve/", {}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_hand_built_representations_have_exactly_the_declared_fields(api_for, requester, member, product):
    """Products and orders are rendered by hand for speed; their keys must be
    the fields the serializers declare (and so the OpenAPI schema promises)."""
    from portal.api.catalogue import ProductDetailSerializer, ProductSerializer
    from portal.api.orders import serializers as order_serializers

    order = submit(product, requester)
    order_cancel(order=order, actor=member)
    client = api_for(member)
    pairs = [
        (ProductSerializer, client.get("/api/v1/products/").json()["results"][0]),
        (ProductDetailSerializer, client.get("/api/v1/products/vm/").json()),
        (order_serializers.OrderSerializer, client.get("/api/v1/orders/").json()["results"][0]),
        (order_serializers.OrderDetailSerializer, client.get(f"/api/v1/orders/{order.pk}/").json()),
    ]
    for serializer, body in pairs:
        assert list(body) == list(serializer().fields), serializer.__name__
    assert pairs[2][1]["created_at"].endswith("Z")


def test_run_output_costs_the_same_queries_whatever_the_page_size(
    api_for, requester, product, django_assert_max_num_queries
):
    order = submit(product, requester)
    run = run_create(runbook_version=order.runbook_version, masked_inputs={})
    order.order_runs.create(run=run, attempt=1)
    RunEvent.objects.bulk_create(
        RunEvent(run=run, counter=n, event="runner_on_ok", stdout=f"line {n}", created_at=timezone.now())
        for n in range(1, 41)
    )
    client = api_for(requester)
    client.get("/api/v1/me/")
    for size in (1, 40):
        with django_assert_max_num_queries(5):  # token, squads, the order, COUNT, page
            response = client.get(f"/api/v1/orders/{order.pk}/events/?page_size={size}")
        assert len(response.json()["results"]) == size


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/", "/api/v1/products/", "/api/v1/squads/", "/api/v1/runbooks/"]
)
@pytest.mark.parametrize("size", ["abc", "0", "-1", "2.5"])
def test_a_page_size_that_is_no_positive_number_is_a_400(api_for, requester, path, size):
    response = api_for(requester).get(f"{path}?page_size={size}")
    assert response.status_code == 400
    assert response.json()["errors"]["page_size"] == ["A whole number of results from 1 to 200."]


def test_a_page_size_above_the_cap_is_capped(api_for, requester, product):
    for n in range(3):
        submit(product, requester, hostname=f"web-{n}")
    response = api_for(requester).get("/api/v1/orders/?page_size=5000")
    assert response.status_code == 200 and len(response.json()["results"]) == 3
