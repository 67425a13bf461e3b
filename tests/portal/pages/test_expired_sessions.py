"""A form sent after the session expired is not lost: the login leads back
to the page it came from, with what was typed filled in again (never a
secret), and no POST-only address answers a bare 405 to a GET."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session

from portal.orders.models import Order, OrderApproval, OrderEvent

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"  # tests/factories.py
TYPED = {"step": "review", "inputs-hostname": "web-77", "inputs-size": "6", "inputs-token": "tok-s3cret"}


def expire(client) -> None:
    """What an expired session is to the server: a cookie naming nothing."""
    Session.objects.all().delete()


def log_in(client, user, next_page: str):
    return client.post(
        f"/login/?next={next_page}", {"username": user.username, "password": PASSWORD}, follow=True
    )


def every_stored_session_text() -> str:
    return " ".join(str(session.get_decoded()) + session.session_data for session in Session.objects.all())


def test_an_order_form_sent_after_expiry_is_filled_in_again_after_login(client, requester, product):
    client.force_login(requester)
    client.get("/products/vm/")
    expire(client)
    response = client.post("/products/vm/order/", TYPED)
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/products/vm/"
    assert Order.objects.count() == 0
    assert "tok-s3cret" not in every_stored_session_text(), "a secret is never kept"
    assert "web-77" not in every_stored_session_text(), "what is kept is kept encrypted"

    after = log_in(client, requester, "/products/vm/")
    assert after.redirect_chain[-1][0] == "/products/vm/"
    html = after.content.decode()
    assert 'value="web-77"' in html and 'value="6"' in html
    assert "tok-s3cret" not in html
    assert "Your session had expired" in html
    assert "Secret fields are never kept: type them again" in html
    assert Order.objects.count() == 0
    # Offered once: the next visit starts from an empty form.
    assert 'value="web-77"' not in client.get("/products/vm/").content.decode()


def test_placing_a_reviewed_order_after_expiry_returns_to_the_filled_form(client, requester, product):
    client.force_login(requester)
    review = client.post("/products/vm/order/", TYPED)
    token = review.context["review"]
    expire(client)
    response = client.post("/products/vm/order/", {"step": "confirm", "review": token})
    assert response["Location"] == "/login/?next=/products/vm/"
    html = log_in(client, requester, "/products/vm/").content.decode()
    assert 'value="web-77"' in html and "tok-s3cret" not in html
    assert Order.objects.count() == 0


def test_a_review_sealed_for_someone_else_is_not_opened_for_the_next_person(
    client, requester, outsider, product
):
    client.force_login(requester)
    token = client.post("/products/vm/order/", TYPED).context["review"]
    expire(client)
    client.post("/products/vm/order/", {"step": "confirm", "review": token})
    html = log_in(client, outsider, "/products/vm/").content.decode()
    assert "web-77" not in html
    assert Order.objects.count() == 0


def test_an_approval_sent_after_expiry_is_not_done_and_its_comment_is_kept(
    client, approval_product, requester, member
):
    from portal.orders.submission import order_submit

    order = order_submit(requester=requester, product=approval_product, inputs={"hostname": "db-01"})
    events = OrderEvent.objects.filter(order=order).count()
    client.force_login(member)
    client.get("/")  # the browser saw a page signed in
    expire(client)
    response = client.post(
        f"/orders/{order.pk}/approve/", {"note": "fine by me", "step": "0", "next": "/approvals/"}
    )
    assert response["Location"] == "/login/?next=/approvals/"
    after = log_in(client, member, "/approvals/")
    assert after.redirect_chain[-1][0] == "/approvals/"
    html = after.content.decode()
    assert "Your session had expired, so it was not done" in html
    assert ">fine by me</textarea>" in html
    order.refresh_from_db()
    assert order.status == "pending_approval"
    assert not OrderApproval.objects.filter(order=order).exists()
    assert OrderEvent.objects.filter(order=order).count() == events


@pytest.mark.parametrize(
    ("post_only", "lands_on"),
    [
        ("/products/vm/order/", "/products/vm/"),
        ("/orders/{order}/approve/", "/orders/{order}/"),
        ("/orders/{order}/cancel/", "/orders/{order}/"),
        ("/notifications/read-all/", "/notifications/"),
        ("/account/security/off/", "/account/security/"),
    ],
)
def test_a_post_only_address_opened_after_login_leads_to_its_page(
    post_only, lands_on, client, requester, product
):
    from portal.orders.submission import order_submit

    order = order_submit(requester=requester, product=product, inputs={"hostname": "db-01"})
    post_only, lands_on = post_only.format(order=order.pk), lands_on.format(order=order.pk)
    after = log_in(client, requester, post_only)
    assert after.status_code == 200
    assert after.redirect_chain[-1][0] == lands_on


def test_a_form_too_large_to_keep_is_not_kept_and_says_so(client, requester, product):
    client.force_login(requester)
    client.get("/")  # the browser saw a page signed in
    expire(client)
    client.post("/products/vm/order/", {**TYPED, "inputs-hostname": "x" * 100_000})
    html = log_in(client, requester, "/products/vm/").content.decode()
    assert "Your session had expired" in html and "too long to keep" in html
    assert "xxxxxxxxxx" not in html


def test_a_kept_form_never_leads_the_login_to_another_site(client, approval_product, requester, member):
    from portal.orders.submission import order_submit

    order = order_submit(requester=requester, product=approval_product, inputs={"hostname": "db-01"})
    response = client.post(f"/orders/{order.pk}/approve/", {"note": "x", "next": "https://evil.example/"})
    assert response["Location"] == f"/login/?next=/orders/{order.pk}/"
    assert client.get(f"/orders/{order.pk}/approve/?next=https://evil.example/")["Location"].startswith(
        "/login/"
    )


def test_the_business_unit_chosen_is_kept_with_the_form(client, requester, product):
    from tests.consumption import unit

    unit("finance", requester, name="Finance")
    unit("logistics", requester, name="Logistics")
    client.force_login(requester)
    client.get("/")  # the browser saw a page signed in
    expire(client)
    client.post("/products/vm/order/", {**TYPED, "business_unit": "logistics"})
    html = log_in(client, requester, "/products/vm/").content.decode()
    assert 'value="web-77"' in html
    assert '<option value="logistics" selected>' in html
    assert Order.objects.count() == 0


def test_what_one_person_typed_is_not_offered_to_the_next_person_on_the_browser(
    client, requester, outsider, product
):
    """A shared browser: rita's session expires with a form half sent; oscar
    logs in next. What she typed is hers: he sees an empty form, and it is
    gone for good."""
    client.force_login(requester)
    client.get("/products/vm/")
    expire(client)
    client.post("/products/vm/order/", TYPED)
    html = log_in(client, outsider, "/products/vm/").content.decode()
    assert "web-77" not in html and "Your session had expired" not in html
    assert "web-77" not in log_in(client, requester, "/products/vm/").content.decode()


def test_a_browser_that_never_named_anyone_keeps_nothing_for_whoever_logs_in(client, requester, product):
    client.post("/products/vm/order/", TYPED)  # never signed in on this browser
    html = log_in(client, requester, "/products/vm/").content.decode()
    assert "web-77" not in html
    assert Order.objects.count() == 0
