"""``/api/v1/orders/{id}/comments/``: the conversation on an order, with the
same rules as the page: another person's order is a 404, the requester never
lists a work note, and only the squad asks questions or keeps work notes."""

from __future__ import annotations

import pytest

from portal.orders.conversation import order_comment_post
from portal.orders.models import OrderComment
from portal.orders.submission import order_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(manual_product, requester):
    return order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-1"})


def url(order) -> str:
    return f"/api/v1/orders/{order.pk}/comments/"


def test_the_requester_and_the_squad_talk_and_work_notes_stay_with_the_squad(
    api_for, order, requester, member
):
    asked = api_for(member).post(
        url(order), {"body": "Which <script>alert(1)</script>**version**?", "kind": "question"}, format="json"
    )
    assert asked.status_code == 201, asked.json()
    assert asked.json()["kind"] == "question"
    assert api_for(requester).get(f"/api/v1/orders/{order.pk}/").json()["waiting_on_requester_since"]
    assert (
        "<script>" not in asked.json()["body_html"]
        and "<strong>version</strong>" in asked.json()["body_html"]
    )
    order_comment_post(order=order, author=member, body="vault/dba-7", kind=OrderComment.Kind.WORK_NOTE)
    replied = api_for(requester).post(url(order), {"body": "16"}, format="json")
    assert replied.status_code == 201
    seen_by_requester = api_for(requester).get(url(order)).json()["results"]
    assert [c["kind"] for c in seen_by_requester] == ["question", "comment"]
    assert "vault/dba-7" not in api_for(requester).get(url(order)).content.decode()
    assert "vault/dba-7" not in api_for(requester).get(f"/api/v1/orders/{order.pk}/").content.decode()
    detail = api_for(requester).get(f"/api/v1/orders/{order.pk}/").json()
    assert detail["comments_url"].endswith(url(order)) and detail["waiting_on_requester_since"] is None
    seen_by_squad = api_for(member).get(url(order)).json()["results"]
    assert [c["kind"] for c in seen_by_squad] == ["question", "work_note", "comment"]


def test_another_persons_order_is_not_found_and_nothing_is_written(api_for, order, outsider):
    client = api_for(outsider)
    assert client.get(url(order)).status_code == 404
    assert client.post(url(order), {"body": "hello"}, format="json").status_code == 404
    assert not OrderComment.objects.exists()


def test_the_requester_cannot_keep_a_work_note_or_ask_a_question(api_for, order, requester):
    for kind in ("work_note", "question"):
        response = api_for(requester).post(url(order), {"body": "x", "kind": kind}, format="json")
        assert response.status_code == 403, response.json()
    assert api_for(requester).post(url(order), {"body": ""}, format="json").status_code == 400
    assert not OrderComment.objects.exists()
