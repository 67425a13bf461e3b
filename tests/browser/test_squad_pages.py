"""Squad members in the browser: the approvals inbox and the manual queue;
and what a business user may not see."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from catalogue.choices import ApprovalPolicy, Fulfilment
from portal.orders.choices import OrderStatus
from portal.orders.fulfilment import order_claim
from portal.orders.models import Order
from portal.orders.submission import order_submit
from squads.choices import Role
from tests.browser.conftest import check_accessibility, log_in, main_nav, screenshot
from tests.factories import MembershipFactory, ProductFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FORM = {
    "type": "object",
    "required": ["source", "justification"],
    "properties": {
        "source": {"type": "string", "format": "ipv4", "title": "Source address"},
        "justification": {"type": "string", "x-widget": "textarea", "title": "Business justification"},
        "vault_token": {"type": "string", "x-secret": True, "title": "Vault token"},
    },
}


@pytest.fixture
def network(transactional_db):  # type: ignore[no-untyped-def]
    return SquadFactory(slug="network", name="Network Squad")


@pytest.fixture
def nora(network):  # type: ignore[no-untyped-def]
    user = UserFactory(username="nora", first_name="Nora", last_name="Lind")
    MembershipFactory(user=user, squad=network, role=Role.PRODUCT_OWNER)
    return user


@pytest.fixture
def bea(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="bea", first_name="Bea", last_name="Fischer")


@pytest.fixture
def firewall(network):  # type: ignore[no-untyped-def]
    return ProductFactory(
        slug="firewall-rule",
        name="Firewall rule change",
        squad=network,
        form_schema=FORM,
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
        approval_policy=ApprovalPolicy.SQUAD,
    )


def place(product, requester, **inputs):  # type: ignore[no-untyped-def]
    values = {"source": "10.1.2.3", "justification": "Backups to the DR site", "vault_token": "s3cr3t-t0ken"}
    return order_submit(requester=requester, product=product, inputs={**values, **inputs})


def test_squad_member_approves_an_order_in_the_inbox(page, nora, bea, firewall):
    order = place(firewall, bea)
    log_in(page, nora)
    page.goto("/")
    nav = main_nav(page)
    expect(nav.get_by_role("link", name=re.compile(r"Approvals"))).to_contain_text("1")
    nav.get_by_role("link", name=re.compile(r"Approvals")).click()
    item = page.get_by_role("article").filter(has_text=f"Order #{order.pk}")
    expect(item).to_contain_text("Backups to the DR site")
    expect(item).to_contain_text("Bea Fischer")
    expect(item).not_to_contain_text("s3cr3t-t0ken")  # the secret input stays masked
    screenshot(page, "approvals-inbox")
    check_accessibility(page, "approvals inbox")

    item.get_by_label("Comment").fill("Fine for the DR replication")
    item.get_by_role("button", name="Approve").click()
    expect(page.locator(".message-success")).to_contain_text(f"Order #{order.pk} approved")
    expect(page.get_by_role("article")).to_have_count(0)
    expect(page.get_by_text("Nothing waits for you")).to_be_visible()
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_FULFILMENT
    approval = order.events.get(to_status=OrderStatus.AWAITING_FULFILMENT)
    assert (approval.actor, approval.note) == (
        nora,
        "Approved step 1/1 (Network Squad approval): Fine for the DR replication",
    )

    # Then the same member works it from the squad's queue.
    main_nav(page).get_by_role("link", name=re.compile(r"^Queue")).click()
    item = page.get_by_role("article").filter(has_text=f"Order #{order.pk}")
    screenshot(page, "manual-queue")
    check_accessibility(page, "manual queue")
    expect(item.get_by_role("button", name="Complete", exact=True)).to_have_count(0)  # not before a claim
    item.get_by_role("button", name="Claim", exact=True).click()
    expect(page.locator(".message-success")).to_contain_text(f"You have claimed order #{order.pk}")
    item = page.get_by_role("article").filter(has_text=f"Order #{order.pk}")
    expect(item).to_contain_text("You claimed it")
    item.get_by_label("Note for the requester").fill("Rule 4711 is live on both firewalls.")
    item.get_by_role("button", name="Complete", exact=True).click()
    expect(page.locator(".message-success")).to_contain_text(f"Order #{order.pk} completed")
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCEEDED
    assert order.resolution_note == "Rule 4711 is live on both firewalls."


def test_rejecting_without_a_reason_is_refused_and_changes_nothing(page, nora, bea, firewall):
    order = place(firewall, bea)
    log_in(page, nora)
    page.goto("/approvals/")
    page.get_by_role("article").get_by_role("button", name="Reject").click()
    # Said on the card it concerns, tied to its comment field; no banner.
    item = page.get_by_role("article").filter(has_text=f"Order #{order.pk}")
    expect(item.get_by_role("alert")).to_contain_text("Give the requester a reason for the rejection.")
    expect(item.get_by_label("Comment")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".message-error")).to_have_count(0)
    check_accessibility(page, "approvals inbox with a refused rejection")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert order.events.count() == 1


def test_a_claim_on_a_stale_queue_is_refused_on_its_card_with_who_claimed_it(
    page, nora, bea, firewall, network
):
    order = place(firewall, bea)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.AWAITING_FULFILMENT)
    jonas = UserFactory(username="jonas", first_name="Jonas", last_name="Berg")
    MembershipFactory(user=jonas, squad=network, role=Role.ENGINEER)
    log_in(page, nora)
    page.goto("/queue/")
    item = page.get_by_role("article").filter(has_text=f"Order #{order.pk}")
    expect(item.get_by_role("button", name="Claim and complete")).to_be_visible()
    order_claim(order=order, actor=jonas)  # while Nora's page still shows it unclaimed
    item.get_by_label("Note for the requester").fill("Rule 4711 is live")
    item.get_by_role("button", name="Claim and complete").click()
    item = page.get_by_role("article").filter(has_text=f"Order #{order.pk}")
    expect(item.get_by_role("alert")).to_contain_text("was claimed by Jonas Berg meanwhile")
    expect(item).to_contain_text("Claimed by Jonas Berg")
    order.refresh_from_db()
    assert (order.status, order.claimed_by) == (OrderStatus.AWAITING_FULFILMENT, jonas)
    assert not order.events.filter(actor=nora).exists()


def test_business_user_cannot_open_someone_elses_order(page, bea, firewall):
    someone = UserFactory(username="sven")
    order = place(firewall, someone)
    log_in(page, bea)
    response = page.goto(f"/orders/{order.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="We cannot find that page")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Firewall rule change")
    expect(page.locator("main")).not_to_contain_text("10.1.2.3")
    screenshot(page, "not-found")
    check_accessibility(page, "404 page")
    # Nor any of its parts, nor can act on it.
    assert page.goto(f"/orders/{order.pk}/live/?run=0&after=0&v=x").status == 404
    assert page.request.post(f"/orders/{order.pk}/cancel/").status in (403, 404)  # no CSRF token: 403 first
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_APPROVAL


def test_business_user_sees_no_squad_pages(page, bea, firewall):
    log_in(page, bea)
    page.goto("/")
    nav = main_nav(page)
    # "My services" and "API" (tokens and webhooks) are everyone's:
    # integrations act as their user.
    expect(nav.get_by_role("link")).to_have_text(["Catalogue", "My orders", "My services", "API"])
    assert page.goto("/approvals/").status == 404
    assert page.goto("/queue/").status == 404
    page.problems.errors.clear()  # the 404s above are expected


def test_business_user_cancels_a_waiting_order_after_confirming(page, bea, firewall):
    order = place(firewall, bea)
    log_in(page, bea)
    page.goto(f"/orders/{order.pk}/")
    expect(page.locator("#order-summary")).to_contain_text("Waiting for approval by the Network Squad")
    questions = []

    def answer(dialog):  # type: ignore[no-untyped-def]
        questions.append(dialog.message)
        dialog.dismiss() if len(questions) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.get_by_label("Reason for cancelling (optional)").fill("Not needed any more")
    page.get_by_role("button", name="Cancel order").click()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_APPROVAL  # said no
    page.get_by_role("button", name="Cancel order").click()
    expect(page.locator(".message-success")).to_contain_text(f"Order #{order.pk} cancelled")
    expect(page.locator("#order-head .badge")).to_have_text(re.compile("Cancelled"))
    assert questions == [f"Cancel order #{order.pk}?"] * 2
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.events.last().note == "Not needed any more"
