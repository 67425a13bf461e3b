"""The conversation on an order: comments both sides see, questions that make
the order wait on the requester until they reply, and work notes the
requester never sees — on no page, in no API answer, notification, email or
webhook."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from portal.notifications.models import Notification
from portal.orders.conversation import order_comment_post, order_comments_for
from portal.orders.errors import OrderError, OrderNotAllowed
from portal.orders.fulfilment import order_claim, order_complete, order_fail
from portal.orders.models import Order, OrderComment, OrderEvent
from portal.orders.submission import order_submit

pytestmark = pytest.mark.django_db

Kind = OrderComment.Kind


@pytest.fixture
def order(manual_product, requester):
    return order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-1"})


def state(order: Order) -> tuple:
    order.refresh_from_db()
    return (
        order.status,
        order.waiting_on_requester_since,
        OrderComment.objects.filter(order=order).count(),
        OrderEvent.objects.filter(order=order).count(),
        Notification.objects.filter(order=order).count(),
    )


def test_a_question_makes_the_order_wait_on_the_requester_until_they_reply(order, requester, member):
    order_claim(order=order, actor=member)
    order_comment_post(order=order, author=member, body="Which **version**?", kind=Kind.QUESTION)
    order.refresh_from_db()
    assert order.status == "awaiting_fulfilment"  # no new status
    assert order.waiting_on_requester_since is not None
    asked = OrderEvent.objects.filter(order=order).last()
    assert asked.actor == member and asked.note.startswith("Asked ")
    told = Notification.objects.get(recipient=requester, kind="order_comment")
    assert "asks you about order" in told.title and told.body == "Which **version**?"

    order_comment_post(order=order, author=requester, body="PostgreSQL 16, please")
    order.refresh_from_db()
    assert order.waiting_on_requester_since is None
    assert "no longer waits" in OrderEvent.objects.filter(order=order).last().note
    # The claimant hears of the reply.
    assert Notification.objects.filter(recipient=member, kind="order_comment").exists()


def test_a_work_note_never_reaches_the_requester(order, requester, member, engineer, settings):
    order_claim(order=order, actor=member)
    order_comment_post(order=order, author=engineer, body="I asked in #dba", kind=Kind.COMMENT)
    mail.outbox.clear()
    events_before = OrderEvent.objects.filter(order=order).count()
    order_comment_post(order=order, author=member, body="Password is in vault/dba-7", kind=Kind.WORK_NOTE)
    assert [c.body for c in order_comments_for(requester, order)] == ["I asked in #dba"]
    assert len(order_comments_for(member, order)) == 2
    assert not Notification.objects.filter(recipient=requester, kind="work_note").exists()
    assert not Notification.objects.filter(recipient=requester, body__contains="vault/dba-7").exists()
    assert Notification.objects.filter(recipient=engineer, kind="work_note").exists()
    assert OrderEvent.objects.filter(order=order).count() == events_before  # not on the shared timeline
    assert all("vault/dba-7" not in "".join(m.to) + m.body for m in mail.outbox if requester.email in m.to)


def test_only_the_squad_asks_questions_and_keeps_work_notes(order, requester, outsider, member):
    before = state(order)
    for kind in (Kind.QUESTION, Kind.WORK_NOTE):
        with pytest.raises(OrderNotAllowed):
            order_comment_post(order=order, author=requester, body="hi", kind=kind)
    with pytest.raises(OrderNotAllowed):
        order_comment_post(order=order, author=outsider, body="hi")
    with pytest.raises(OrderError, match="Write something"):
        order_comment_post(order=order, author=member, body="   ")
    with pytest.raises(OrderError, match="at most"):
        order_comment_post(order=order, author=member, body="x" * 10_001)
    assert state(order) == before


def test_a_finished_order_no_longer_waits_on_the_requester(order, requester, member, client):
    """The squad asked, then gave up on an answer: the order failed, and
    neither its page nor My orders says it still waits on the requester."""
    order_claim(order=order, actor=member)
    order_comment_post(order=order, author=member, body="Which version?", kind=Kind.QUESTION)
    order.refresh_from_db()
    assert order.waiting_on_requester_since is not None

    order_fail(order=order, actor=member, reason="No answer within a week")

    order.refresh_from_db()
    assert (order.status, order.waiting_on_requester_since) == ("failed", None)
    client.force_login(requester)
    assert "Waits on you" not in client.get("/orders/").content.decode()
    assert "Waits on you" not in client.get(f"/orders/{order.pk}/").content.decode()


def test_a_finished_order_has_nothing_to_ask(order, member):
    order_claim(order=order, actor=member)
    order_complete(order=order, actor=member, note="done")
    before = state(order)
    with pytest.raises(OrderError, match="nothing left to ask"):
        order_comment_post(order=order, author=member, body="?", kind=Kind.QUESTION)
    assert state(order) == before
    order_comment_post(order=order, author=member, body="Enjoy")  # a comment still may


def test_a_requester_comment_on_an_unclaimed_order_tells_the_squad(order, requester, member, engineer):
    order_comment_post(order=order, author=requester, body="Any news?")
    told = set(
        Notification.objects.filter(kind="order_comment").values_list("recipient__username", flat=True)
    )
    assert {member.username, engineer.username} <= told and requester.username not in told


def test_a_work_note_never_reaches_an_approver_from_another_squad(
    squad, other_squad, requester, member, other_member
):
    """An approver of another squad takes part in the conversation while their
    step is open, but reads no work note on the page: none may reach them by
    notification or email either, whether they already spoke or not."""
    from catalogue.choices import ApprovalPolicy
    from catalogue.models import ApprovalStep
    from portal.orders.approvals import order_approve
    from tests.factories import ProductFactory

    product = ProductFactory(
        slug="firewall",
        squad=squad,
        approval_policy=ApprovalPolicy.STEPS,
        form_schema={"type": "object", "properties": {"hostname": {"type": "string"}}},
    )
    ApprovalStep.objects.create(product=product, position=0, name="Squad review", roles=["product_owner"])
    ApprovalStep.objects.create(product=product, position=1, name="Compute sign-off", squad=other_squad)
    order = order_submit(requester=requester, product=product, inputs={"hostname": "fw-1"})
    order = order_approve(order=order, actor=member)
    order_comment_post(order=order, author=other_member, body="Which rule set?")
    mail.outbox.clear()
    before = Notification.objects.filter(recipient=other_member).count()

    order_comment_post(order=order, author=member, body="Rule set is in vault/fw-9", kind=Kind.WORK_NOTE)

    assert Notification.objects.filter(recipient=other_member).count() == before
    told = Notification.objects.filter(body__contains="vault/fw-9").values_list(
        "recipient__username", flat=True
    )
    assert set(told) <= set(squad.members.values_list("username", flat=True))
    assert all(
        "vault/fw-9" not in message.body for message in mail.outbox if other_member.email in message.to
    )
    assert "vault/fw-9" not in "".join(comment.body for comment in order_comments_for(other_member, order))


def test_the_migration_clears_the_wait_of_orders_already_finished(order, requester, manual_product):
    """Orders finished before order_move cleared the wait keep no "Waits on
    you"; an open one still waiting keeps it."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("portal.migrations.0017_finished_orders_wait_on_nobody")
    still_open = order_submit(requester=requester, product=manual_product, inputs={"hostname": "db-2"})
    asked = timezone.now()
    Order.objects.filter(pk=order.pk).update(status="failed", waiting_on_requester_since=asked)
    Order.objects.filter(pk=still_open.pk).update(waiting_on_requester_since=asked)

    migration.forward(apps, None)

    assert Order.objects.get(pk=order.pk).waiting_on_requester_since is None
    assert Order.objects.get(pk=still_open.pk).waiting_on_requester_since == asked


def test_posting_costs_the_same_queries_however_long_the_conversation(order, requester, member):
    """Posting runs under the order's lock: who hears of it is worked out
    once per person in the conversation, not once per message."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_of_a_post() -> int:
        with CaptureQueriesContext(connection) as captured:
            order_comment_post(order=order, author=requester, body="Any news?")
        return len(captured)

    order_claim(order=order, actor=member)
    order_comment_post(order=order, author=member, body="On it")
    short = queries_of_a_post()
    for number in range(20):
        order_comment_post(order=order, author=member, body=f"Step {number} done")
        order_comment_post(order=order, author=requester, body=f"Thanks {number}")

    assert queries_of_a_post() == short
