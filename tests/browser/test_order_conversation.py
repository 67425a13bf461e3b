"""The conversation on an order in Chromium: the squad asks the requester for
information, the order shows it waits on them, their reply clears it; a work
note never appears on the requester's page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from catalogue.choices import Fulfilment
from portal.orders.models import Order
from portal.orders.submission import order_submit
from squads.choices import Role
from tests.browser.conftest import check_accessibility, log_in, main_nav, screenshot
from tests.factories import MembershipFactory, ProductFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cast(transactional_db):  # type: ignore[no-untyped-def]
    squad = SquadFactory(slug="data", name="Data Squad")
    dana = UserFactory(username="dana", first_name="Dana", last_name="Ek")
    MembershipFactory(user=dana, squad=squad, role=Role.ENGINEER)
    bea = UserFactory(username="bea", first_name="Bea", last_name="Fischer")
    product = ProductFactory(
        slug="database",
        name="Database",
        squad=squad,
        form_schema={"type": "object", "properties": {"name": {"type": "string"}}},
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
    )
    order = order_submit(requester=bea, product=product, inputs={"name": "sales"})
    return dana, bea, order


def test_the_squad_asks_the_requester_who_replies_and_never_sees_the_work_note(page, cast):  # type: ignore[no-untyped-def]
    dana, bea, order = cast
    log_in(page, dana)
    page.goto(f"/orders/{order.pk}/")
    conversation = page.get_by_role("region", name="Conversation")
    conversation.get_by_label("Message").fill("Ticket DBA-7 tracks the **licence**.")
    conversation.get_by_label("Work note").check()
    conversation.get_by_role("button", name="Send").click()
    expect(page.locator(".message-success")).to_contain_text("Work note kept")
    conversation = page.get_by_role("region", name="Conversation")
    conversation.get_by_label("Message").fill("Which PostgreSQL version do you need?")
    conversation.get_by_label("Ask the requester for information").check()
    conversation.get_by_role("button", name="Send").click()
    expect(page.locator(".order-head")).to_contain_text("Waits on the requester")
    check_accessibility(page, "order page with a conversation (squad)")

    page.context.clear_cookies()
    log_in(page, bea)
    page.goto("/orders/")
    page.get_by_role("link", name="Waits on you").click()
    conversation = page.get_by_role("region", name="Conversation")
    expect(conversation).to_contain_text("Which PostgreSQL version do you need?")
    expect(conversation).not_to_contain_text("DBA-7")
    expect(conversation.get_by_label("Work note")).to_have_count(0)
    screenshot(page, "order-conversation-requester")
    check_accessibility(page, "order page with a question (requester)")
    # On a phone the conversation fits the screen: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.getElementById('conversation').scrollWidth <= window.innerWidth")
    screenshot(page, "order-conversation-requester-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    conversation.get_by_label("Your reply to the squad").fill("Version 16, please.")
    conversation.get_by_role("button", name="Send").click()
    expect(page.locator(".message-success")).to_contain_text("Comment added")
    expect(page.locator(".order-head")).not_to_contain_text("Waits on")
    order = Order.objects.get(pk=order.pk)
    assert order.waiting_on_requester_since is None


def test_order_again_says_on_the_form_which_order_filled_it(page, cast):  # type: ignore[no-untyped-def]
    from portal.orders.fulfilment import order_claim, order_complete

    dana, bea, order = cast
    order_claim(order=order, actor=dana)
    order_complete(order=order, actor=dana, note="Created sales")
    log_in(page, bea)
    page.goto(f"/orders/{order.pk}/")
    page.get_by_role("link", name="Order again with these details").click()
    note = page.locator(".filled-from")
    expect(note).to_have_text(f"Filled in from order #{order.pk}: check the details, then review.")
    expect(note).to_be_in_viewport()  # where the link leads, not a banner scrolled away
    expect(page.get_by_label("Name")).to_have_value("sales")


def test_my_orders_applies_the_status_filter_as_it_changes(page, cast):  # type: ignore[no-untyped-def]
    import re

    _dana, bea, _order = cast
    log_in(page, bea)
    page.goto("/orders/")
    page.get_by_label("Status").select_option("succeeded")
    expect(page).to_have_url(re.compile(r"status=succeeded"))  # no Filter click
    expect(page.get_by_text("No order has this status.")).to_be_visible()


def test_watching_an_order_finish_marks_its_notification_read(page, cast):  # type: ignore[no-untyped-def]
    from portal.notifications.models import Notification
    from portal.orders.fulfilment import order_claim, order_complete

    dana, bea, order = cast
    log_in(page, bea)
    page.goto(f"/orders/{order.pk}/")
    order_claim(order=order, actor=dana)
    order_complete(order=order, actor=dana, note="Created sales")
    assert Notification.objects.filter(recipient=bea, order=order, read_at=None).count() == 2
    # The page follows the order live; what it shows needs no unread badge.
    expect(page.locator("#order-summary")).to_contain_text("Done", timeout=20_000)
    assert not Notification.objects.filter(recipient=bea, order=order, read_at=None).exists()
    page.goto("/")
    main_nav(page)  # Notifications sit in the menu a narrow bar folds away
    expect(page.get_by_role("link", name="Notifications")).not_to_contain_text("2")
