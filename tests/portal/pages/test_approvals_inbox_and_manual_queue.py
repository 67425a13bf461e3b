"""The squads' own pages: the approvals inbox and the manual queue, and the
navigation that shows them only to squad members."""

from __future__ import annotations

import pytest

from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition
from portal.orders.fulfilment import order_claim
from portal.orders.submission import order_submit
from squads.choices import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

INPUTS = {"hostname": "db-01", "token": "tok-3n"}


def submit(product, requester):
    return order_submit(requester=requester, product=product, inputs=INPUTS)


def test_navigation_shows_squad_pages_to_members_only(client, requester, member):
    client.force_login(requester)
    html = client.get("/").content.decode()
    assert 'href="/approvals/"' not in html and 'href="/queue/"' not in html and "/admin/" not in html
    client.force_login(member)
    html = client.get("/").content.decode()
    assert 'href="/approvals/"' in html and 'href="/queue/"' in html and 'href="/admin/"' in html


def test_squad_pages_do_not_exist_for_business_users(client, requester):
    client.force_login(requester)
    assert client.get("/approvals/").status_code == 404
    assert client.get("/queue/").status_code == 404


def test_inbox_lists_orders_the_member_may_decide_oldest_first_with_their_inputs(
    client, approval_product, requester, member
):
    first = submit(approval_product, requester)
    second = submit(approval_product, requester)
    submit(approval_product, member)  # their own: someone else decides
    client.force_login(member)
    response = client.get("/approvals/")
    assert [order.pk for order in response.context["page"].object_list] == [first.pk, second.pk]
    html = response.content.decode()
    assert "db-01" in html and "tok-3n" not in html
    assert 'aria-label="2 waiting"' in html  # the count beside the link


def test_an_engineer_has_no_approvals_but_works_the_queue(
    client, approval_product, manual_product, requester, engineer
):
    submit(approval_product, requester)
    waiting = submit(manual_product, requester)
    client.force_login(engineer)
    assert list(client.get("/approvals/").context["page"].object_list) == []
    assert [order.pk for order in client.get("/queue/").context["page"].object_list] == [waiting.pk]


def test_another_squads_orders_stay_out_of_the_inbox_and_queue(
    client, approval_product, manual_product, requester, other_member
):
    submit(approval_product, requester)
    submit(manual_product, requester)
    client.force_login(other_member)
    assert list(client.get("/approvals/").context["page"].object_list) == []
    assert list(client.get("/queue/").context["page"].object_list) == []


def test_queue_shows_who_claimed_what_and_offers_actions_only_to_them(
    client, manual_product, requester, engineer, squad
):
    colleague = MembershipFactory(user=UserFactory(username="carl"), squad=squad, role=Role.ENGINEER).user
    order = submit(manual_product, requester)
    order_claim(order=order, actor=colleague)
    client.force_login(engineer)
    html = client.get("/queue/").content.decode()
    assert "Claimed by carl" in html
    assert f'action="/orders/{order.pk}/complete/"' not in html
    assert f'action="/orders/{order.pk}/release/"' not in html, "an engineer cannot take it from carl"
    client.force_login(colleague)
    html = client.get("/queue/").content.decode()
    assert "You claimed it" in html and f'action="/orders/{order.pk}/complete/"' in html


def test_a_product_owner_gives_someone_elses_claim_back_to_the_queue(
    client, manual_product, requester, engineer, member
):
    order = submit(manual_product, requester)
    order_claim(order=order, actor=engineer)
    client.force_login(member)
    release = f'action="/orders/{order.pk}/release/"'
    assert release in client.get("/queue/").content.decode()
    assert release in client.get(f"/orders/{order.pk}/").content.decode()
    response = client.post(f"/orders/{order.pk}/release/", {"next": "/queue/"}, follow=True)
    assert f"Order #{order.pk} is back in" in response.content.decode()
    order.refresh_from_db()
    assert order.claimed_by is None and order.status == OrderStatus.AWAITING_FULFILMENT


def test_approving_from_the_inbox_returns_to_it_with_a_message(client, approval_product, requester, member):
    order = submit(approval_product, requester)
    client.force_login(member)
    response = client.post(f"/orders/{order.pk}/approve/", {"note": "", "next": "/approvals/"}, follow=True)
    assert response.redirect_chain[-1][0] == "/approvals/"
    assert f"Order #{order.pk} approved: it is queued to run." in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED
    assert order.events.last().note == "Approved step 1/1 (Network Squad approval)"


def test_squad_pages_cost_the_same_queries_for_many_orders(
    client, approval_product, manual_product, requester, member, django_assert_max_num_queries
):
    submit(approval_product, requester)
    submit(manual_product, requester)
    client.force_login(member)
    with django_assert_max_num_queries(11) as inbox:
        client.get("/approvals/")
    with django_assert_max_num_queries(11) as queue:
        client.get("/queue/")
    for _ in range(20):
        submit(approval_product, UserFactory())
        submit(manual_product, UserFactory())
    with django_assert_max_num_queries(len(inbox.captured_queries)):
        client.get("/approvals/")
    with django_assert_max_num_queries(len(queue.captured_queries)):
        client.get("/queue/")


def test_claims_name_people_as_the_pages_do(manual_product, requester, engineer, member):
    engineer.first_name, engineer.last_name = "Liam", "Walsh"
    engineer.save()
    order = submit(manual_product, requester)
    order_claim(order=order, actor=engineer)
    assert order.events.last().note == "Claimed by Liam Walsh"
    with pytest.raises(IllegalTransition, match="already claimed by Liam Walsh"):
        order_claim(order=order, actor=member)


def test_a_rejection_without_a_comment_is_refused_on_its_card_not_in_a_banner(
    client, approval_product, requester, member
):
    from portal.orders.submission import order_submit

    order = order_submit(requester=requester, product=approval_product, inputs={"hostname": "web-1"})
    client.force_login(member)
    response = client.post(
        f"/orders/{order.pk}/reject/", {"note": "", "step": 0, "next": "/approvals/"}, follow=True
    )
    html = response.content.decode()
    card = html[html.index(f'id="order-{order.pk}-title"') :]
    assert f'id="note-{order.pk}-error"' in card and "Give the requester a reason" in card
    assert html.count("Give the requester a reason") == 1  # on the card, not in a banner too
    order.refresh_from_db()
    assert order.status == "pending_approval"


def test_the_queue_offers_complete_and_fail_only_after_a_claim(client, manual_product, requester, member):
    from portal.orders.fulfilment import order_claim
    from portal.orders.submission import order_submit

    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-1"})
    client.force_login(member)
    html = client.get("/queue/").content.decode()
    assert f'formaction="/orders/{order.pk}/claim/"' in html and "Claim and complete" in html
    assert f'formaction="/orders/{order.pk}/fail/"' not in html
    order_claim(order=order, actor=member)
    html = client.get("/queue/").content.decode()
    assert f'formaction="/orders/{order.pk}/fail/"' in html and "Claim and complete" not in html
