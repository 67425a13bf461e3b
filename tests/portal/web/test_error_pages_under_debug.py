"""With DEBUG on (``make run``), a missing page and a failure show the
portal's own styled pages: Django's technical pages are unstyled under the
portal's Content-Security-Policy and look broken ("another user's order is
simply not found"). ``SQUADRON_TECHNICAL_ERROR_PAGES`` brings them back."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.orders.submission import order_submit
from portal.pages import catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    settings.SQUADRON_TECHNICAL_ERROR_PAGES = False
    return settings


def is_portal_404(response) -> bool:
    html = response.content.decode()
    return (
        response.status_code == 404
        and "We cannot find that page" in html
        and "/static/css/squadron.css" in html
        and "Using the URLconf" not in html
    )


def test_an_unknown_page_is_the_portals_own_404(debug, client, requester):
    client.force_login(requester)
    assert is_portal_404(client.get("/no-such-page/"))
    assert "Content-Security-Policy" in client.get("/no-such-page/")


def test_another_users_order_is_simply_not_found(debug, client, product, requester, outsider):
    order = order_submit(requester=requester, product=product, inputs={"hostname": "web-01"})
    client.force_login(outsider)
    response = client.get(f"/orders/{order.pk}/")
    assert is_portal_404(response)
    assert "web-01" not in response.content.decode()


def test_a_failure_is_the_portals_own_500_and_is_logged(debug, requester, monkeypatch, caplog):
    def broken(slug):
        raise RuntimeError("the catalogue broke")

    monkeypatch.setattr(catalogue, "product_or_404", broken)
    client = Client(raise_request_exception=False)
    client.force_login(requester)
    response = client.get("/products/vm/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html and "Traceback" not in html
    assert "the catalogue broke" in caplog.text


def test_the_api_keeps_answering_json(debug, client):
    response = client.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_missing_slash_still_redirects(debug, client, requester):
    client.force_login(requester)
    assert client.get("/orders")["Location"] == "/orders/"


def test_the_technical_pages_come_back_on_request(debug, client, requester):
    debug.SQUADRON_TECHNICAL_ERROR_PAGES = True
    client.force_login(requester)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "Using the URLconf" in response.content.decode()


@pytest.mark.parametrize("debug_on", [True, False])
def test_a_method_a_page_does_not_take_gets_a_page_not_an_empty_405(debug_on, settings, client, requester):
    settings.DEBUG = debug_on
    client.force_login(requester)
    response = client.post("/orders/badges/")  # a GET-only part of My orders
    assert response.status_code == 405 and response["Allow"] == "GET"
    html = response.content.decode()
    assert "This address is not opened that way" in html and "/static/css/squadron.css" in html
    api = client.delete("/api/v1/products/")
    assert api.status_code == 405 and api.json()["code"] == "method_not_allowed"


def test_a_refusal_is_the_portals_own_403(rf):
    """Django answers ``PermissionDenied`` with its handler, DEBUG or not:
    the page it renders is the portal's ``403.html``."""
    from django.core.exceptions import PermissionDenied
    from django.views import defaults

    response = defaults.permission_denied(rf.get("/"), PermissionDenied())
    html = response.content.decode()
    assert response.status_code == 403 and "You may not do that" in html and "squadron.css" in html
