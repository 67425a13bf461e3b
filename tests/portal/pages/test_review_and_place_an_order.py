"""Ordering in the browser without a browser: the form, its review step and
the order it places, and every way that can be refused without a trace."""

from __future__ import annotations

import re

import pytest

from catalogue.choices import ProductStatus
from catalogue.inputs import MASK
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from runbooks.crypto import decrypt_json

pytestmark = pytest.mark.django_db

GOOD = {"inputs-hostname": "web-01", "inputs-size": "4", "inputs-token": "tok-3n"}


@pytest.fixture
def rita(client, requester):
    client.force_login(requester)
    return client


def review(client, data, slug="vm"):
    return client.post(f"/products/{slug}/order/", data)


def token_of(response) -> str:
    return re.search(r'name="review" value="([^"]+)"', response.content.decode()).group(1)


def test_bad_inputs_come_back_with_each_error_next_to_its_field_and_nothing_is_ordered(rita, product):
    response = review(rita, {"inputs-hostname": "not a host!", "inputs-size": "500", "inputs-token": "x"})
    assert response.status_code == 422
    form = response.context["form"]
    assert form.errors["hostname"] == ["Must be a valid hostname."]
    assert form.errors["size"] == ["Must be at most 64."]
    assert "token" in form.errors
    html = response.content.decode()
    assert 'id="id_inputs-hostname_error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="not a host!"' in html and 'value="500"' in html  # what was typed is kept
    assert 'value="x"' not in html  # but never a secret
    assert "There are problems with your order" in html
    assert Order.objects.count() == 0


def test_review_shows_what_will_be_ordered_with_secrets_hidden_and_orders_nothing(rita, product):
    response = review(rita, GOOD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Review your order" in html
    assert "web-01" in html and "Host name" in html
    assert "tok-3n" not in html and "••••••••" in html
    assert "tok-3n" not in token_of(response)  # the token is sealed, not merely encoded
    assert Order.objects.count() == 0


def test_confirming_the_review_places_the_order(rita, product, requester):
    response = rita.post("/products/vm/order/", {"step": "confirm", "review": token_of(review(rita, GOOD))})
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.pk}/"
    assert order.requester == requester
    assert order.inputs == {"hostname": "web-01", "size": 4, "token": MASK}
    assert decrypt_json(order.secret_inputs_ciphertext) == {"token": "tok-3n"}
    page = rita.get(response["Location"]).content.decode()
    assert f"Order #{order.pk} placed: it will start in a moment." in page


def test_placing_the_same_review_twice_places_one_order(rita, product):
    """Back to the review page, then "Place order" again: the order that
    exists is shown, no second one is made."""
    token = token_of(review(rita, GOOD))
    first = rita.post("/products/vm/order/", {"step": "confirm", "review": token})
    again = rita.post("/products/vm/order/", {"step": "confirm", "review": token}, follow=True)
    order = Order.objects.get()
    assert first["Location"] == f"/orders/{order.pk}/"
    assert again.redirect_chain[-1][0] == f"/orders/{order.pk}/"
    assert f"You placed this order already: it is Order #{order.pk}." in again.content.decode()
    rita.post("/products/vm/order/", {"step": "confirm", "review": token_of(review(rita, GOOD))})
    assert Order.objects.count() == 2, "a new review of the same details is a new order"


def test_a_review_cannot_be_replayed_by_someone_else(rita, client, product, outsider):
    token = token_of(review(rita, GOOD))
    client.force_login(outsider)
    response = client.post("/products/vm/order/", {"step": "confirm", "review": token})
    assert response.status_code == 302 and response["Location"] == "/products/vm/"
    assert Order.objects.count() == 0


@pytest.mark.parametrize("token", ["", "garbage", "gAAAAABk-not-really-fernet"])
def test_a_broken_or_forged_review_orders_nothing(rita, product, token):
    response = rita.post("/products/vm/order/", {"step": "confirm", "review": token}, follow=True)
    assert "That review has expired" in response.content.decode()
    assert Order.objects.count() == 0


def test_a_product_changed_during_the_review_is_reviewed_again(rita, product):
    token = token_of(review(rita, GOOD))
    product.version += 1
    product.save()
    response = rita.post("/products/vm/order/", {"step": "confirm", "review": token})
    assert response.status_code == 200
    assert "changed while you were reviewing" in response.content.decode()
    assert Order.objects.count() == 0
    rita.post("/products/vm/order/", {"step": "confirm", "review": token_of(response)})
    assert Order.objects.count() == 1


def test_a_product_retired_during_the_review_cannot_be_ordered(rita, product):
    token = token_of(review(rita, GOOD))
    product.status = ProductStatus.RETIRED
    product.save()
    response = rita.post("/products/vm/order/", {"step": "confirm", "review": token})
    assert response.status_code == 404
    assert Order.objects.count() == 0


def test_inputs_the_form_no_longer_accepts_send_the_user_back_to_the_form(rita, product):
    token = token_of(review(rita, GOOD))
    form = dict(product.form_schema)
    form["properties"] = {**form["properties"], "size": {"type": "integer", "maximum": 2}}
    product.form_schema = form
    product.save()  # same version: the change slipped in without one
    response = rita.post("/products/vm/order/", {"step": "confirm", "review": token})
    assert response.status_code == 422
    assert response.context["form"].errors["size"] == ["Must be at most 2."]
    assert "type them again" in response.content.decode()
    assert Order.objects.count() == 0


def test_changing_details_refills_the_form_except_secrets(rita, product):
    response = rita.post("/products/vm/order/", {"step": "edit", "review": token_of(review(rita, GOOD))})
    html = response.content.decode()
    assert 'value="web-01"' in html and 'value="4"' in html
    assert "tok-3n" not in html
    assert "type them again" in html
    assert Order.objects.count() == 0


def test_ordering_a_product_that_needs_approval_says_who_approves(rita, approval_product):
    reviewed = review(rita, GOOD, slug="firewall")
    assert (
        "Product owners and subject-matter experts of Network Squad approve or reject your order"
        in reviewed.content.decode()
    )
    response = rita.post(
        "/products/firewall/order/", {"step": "confirm", "review": token_of(reviewed)}, follow=True
    )
    assert (
        "waits for approval by product owners and subject-matter experts of Network Squad"
        in response.content.decode()
    )
    assert Order.objects.get().status == OrderStatus.PENDING_APPROVAL


def test_the_order_form_needs_the_csrf_token(client, requester, product):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(requester)
    response = strict.post("/products/vm/order/", GOOD)
    assert response.status_code == 403
    assert "Please try again" in response.content.decode()
