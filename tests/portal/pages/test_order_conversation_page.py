"""The conversation on the order page: the requester never sees a work note,
a question shows the order waits on them, and a refused message is said on
the conversation's form with what was typed."""

from __future__ import annotations

import pytest

from portal.orders.conversation import order_comment_post
from portal.orders.models import OrderComment
from portal.orders.submission import order_submit

pytestmark = pytest.mark.django_db

Kind = OrderComment.Kind


@pytest.fixture
def order(manual_product, requester):
    return order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-1"})


def test_the_requester_page_shows_comments_and_questions_but_no_work_note(client, order, requester, member):
    order_comment_post(order=order, author=member, body="On it", kind=Kind.COMMENT)
    order_comment_post(order=order, author=member, body="secret plan in vault/7", kind=Kind.WORK_NOTE)
    order_comment_post(order=order, author=member, body="Which size?", kind=Kind.QUESTION)
    client.force_login(requester)
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert "On it" in html and "Which size?" in html and "Waits on you" in html
    assert "vault/7" not in html and 'value="work_note"' not in html
    assert "Waits on you" in client.get("/orders/").content.decode()
    client.force_login(member)
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert "vault/7" in html and "Work note · squad only" in html


def test_markdown_in_a_comment_is_sanitized(client, order, requester):
    client.post(f"/orders/{order.pk}/comments/", {"body": "**hi** <img src=x onerror=alert(1)>"})
    client.force_login(requester)
    client.post(f"/orders/{order.pk}/comments/", {"body": "**hi** <img src=x onerror=alert(1)>"})
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert "<strong>hi</strong>" in html and "onerror" not in html


def test_a_refused_message_is_said_on_the_form_with_what_was_typed(client, order, requester):
    client.force_login(requester)
    response = client.post(
        f"/orders/{order.pk}/comments/", {"body": "psst", "kind": "work_note"}, follow=True
    )
    html = response.content.decode()
    assert 'id="comment-error"' in html and "Only the squad" in html
    assert ">psst</textarea>" in html
    assert not OrderComment.objects.exists()


def test_an_outsider_cannot_post_to_another_persons_order(client, order, outsider):
    client.force_login(outsider)
    assert client.post(f"/orders/{order.pk}/comments/", {"body": "hi"}).status_code == 404
    assert not OrderComment.objects.exists()


def test_the_claimant_sees_secret_inputs_once_on_demand_and_it_is_recorded(
    client, manual_product, requester, member, engineer
):
    from portal.orders.fulfilment import order_claim
    from portal.orders.models import OrderEvent

    order = order_submit(
        requester=requester, product=manual_product, inputs={"hostname": "db-1", "token": "s3cret-tok"}
    )
    order_claim(order=order, actor=member)
    # Another squad member (not the claimant) is offered nothing and refused.
    client.force_login(engineer)
    assert "Show secret inputs" not in client.get(f"/orders/{order.pk}/").content.decode()
    client.post(f"/orders/{order.pk}/secrets/")
    assert "s3cret-tok" not in client.get(f"/orders/{order.pk}/").content.decode()
    assert not OrderEvent.objects.filter(order=order, note__startswith="Secret inputs shown").exists()

    client.force_login(member)
    assert "Show secret inputs" in client.get(f"/orders/{order.pk}/").content.decode()
    shown = client.post(f"/orders/{order.pk}/secrets/", follow=True)
    assert "s3cret-tok" in shown.content.decode()
    assert "no-store" in shown.headers["Cache-Control"]
    assert "s3cret-tok" not in client.get(f"/orders/{order.pk}/").content.decode()  # once
    event = OrderEvent.objects.get(order=order, note__startswith="Secret inputs shown")
    assert event.actor == member and "s3cret-tok" not in event.note
