"""Approvals in the browser's pages: the steps and their decisions on the
order page, the dry run an approver asks for and reads before deciding, and
giving a claimed manual order back to the queue."""

from __future__ import annotations

import pytest

from portal.orders.approvals import order_approve, order_reject
from portal.orders.choices import OrderStatus
from portal.orders.execution import order_dry_run_execute
from portal.orders.fulfilment import order_claim
from portal.orders.models import OrderDryRun
from portal.orders.submission import order_submit
from runbooks.models import Run
from tests.runbooks import use_private_dirs

pytestmark = pytest.mark.django_db


def order_page(client, user, order) -> str:
    """The order's page as ``user`` sees it."""
    client.force_login(user)
    return client.get(f"/orders/{order.pk}/").content.decode()


def test_order_page_shows_each_step_with_its_decisions(client, two_steps, requester, member):
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    order_approve(order=order, actor=member, note="ok for us")
    html = order_page(client, requester, order)
    assert "Waiting for approval: step 2 of 2." in html
    assert "Squad review" in html and "Compute sign-off" in html
    assert "Approved by nora" in html and "ok for us" in html
    assert 'aria-current="step"' in html


def test_approver_asks_for_a_dry_run_and_reads_its_output_before_deciding(
    client, two_steps, requester, member, settings, tmp_path
):
    use_private_dirs(settings, tmp_path)
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    html = order_page(client, member, order)
    assert "Preview with a dry run" in html

    response = client.post(f"/orders/{order.pk}/dry-run/", follow=True)
    assert "Dry run of order" in response.content.decode()
    dry_run = OrderDryRun.objects.get(order=order)
    order_dry_run_execute(dry_run_id=dry_run.pk)  # what the worker does

    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert "Write a file unless dry run" in html, "the dry run's output is on the page"
    assert "1 would change" in html
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL


def test_the_requester_cannot_ask_for_a_dry_run_and_nothing_runs(client, two_steps, requester):
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    client.force_login(requester)
    assert "Preview with a dry run" not in client.get(f"/orders/{order.pk}/").content.decode()
    response = client.post(f"/orders/{order.pk}/dry-run/", follow=True)
    assert "Only the approvers" in response.content.decode()
    assert not OrderDryRun.objects.exists() and not Run.objects.filter(check_mode=True).exists()


def test_inbox_names_the_open_step_and_the_runbook_version(
    client, two_steps, requester, other_member, member
):
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    order_approve(order=order, actor=member)
    client.force_login(other_member)
    html = client.get("/approvals/").content.decode()
    assert "Step 2 of 2" in html and "Compute sign-off" in html
    assert f"v{order.runbook_version.number}" in html and "Preview it with a dry run" in html
    # The preview is asked for from the inbox and read on the order's page.
    assert f'action="/orders/{order.pk}/dry-run/"' in html


def test_claimer_gives_an_order_back_to_the_queue(client, manual_product, requester, engineer):
    order = order_submit(requester=requester, product=manual_product, inputs={"hostname": "a"})
    order_claim(order=order, actor=engineer)
    client.force_login(engineer)
    assert "Give back to the queue" in client.get(f"/orders/{order.pk}/").content.decode()
    response = client.post(f"/orders/{order.pk}/release/", follow=True)
    assert "back in the" in response.content.decode()
    order.refresh_from_db()
    assert order.claimed_by is None


def test_another_squads_approver_opens_and_approves_the_order_when_their_step_opens(
    client, two_steps, requester, member, other_member
):
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    client.force_login(other_member)
    assert client.get(f"/orders/{order.pk}/").status_code == 404, "not theirs to see before their step"
    order_approve(order=order, actor=member)
    assert client.get(f"/orders/{order.pk}/").status_code == 200
    response = client.post(f"/orders/{order.pk}/approve/", {"note": "compute agrees"}, follow=True)
    assert "approved: it is queued to run" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED
    assert client.get(f"/orders/{order.pk}/").status_code == 200, "they keep seeing what they decided"
    assert "Cancel order" not in client.get(f"/orders/{order.pk}/").content.decode()


def test_product_page_names_the_approval_steps(client, two_steps, requester):
    client.force_login(requester)
    html = client.get("/products/fw/").content.decode()
    assert "2 steps: Squad review, then Compute sign-off" in html


def test_my_orders_is_the_current_section_only_on_the_users_own_order(client, two_steps, requester, member):
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    my_orders_current = '<a href="/orders/" aria-current="page">My orders</a>'

    client.force_login(requester)
    assert my_orders_current in client.get(f"/orders/{order.pk}/").content.decode()
    html = order_page(client, member, order)
    assert "My orders" in html and my_orders_current not in html


def test_timeline_titles_a_step_approval_and_shows_the_comment(client, two_steps, requester, member):
    member.first_name, member.last_name = "Nora", "Lind"
    member.save()
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    order_approve(order=order, actor=member, note="Looks fine.")
    note = order.events.last().note
    assert note == "Approved step 1/2 (Squad review): Looks fine. Step 2 (Compute sign-off) opens."

    html = order_page(client, requester, order)
    assert (
        '<p class="tl-title">Approved step 1/2 (Squad review)\n'
        '        <span class="muted">by Nora Lind</span></p>' in html
    )
    assert '<p class="tl-note">Looks fine. Step 2 (Compute sign-off) opens.</p>' in html


def test_a_step_after_a_rejection_is_not_reached(client, two_steps, requester, member):
    order = order_submit(requester=requester, product=two_steps, inputs={"label": "a"})
    order_reject(order=order, actor=member, reason="No ticket")
    html = order_page(client, requester, order)
    assert '<span class="step-state">rejected</span>' in html
    assert '<span class="step-state">not reached</span>' in html and "not open yet" not in html


def test_the_review_page_lists_the_approval_steps_in_order(client, two_steps, requester):
    client.force_login(requester)
    html = client.post("/products/fw/order/", {"label": "a"}).content.decode()
    assert "It is approved in 2 steps, one after the other" in html
    assert "<li>Squad review: product owners of Network Squad</li>" in html
    assert "<li>Compute sign-off: any member of Compute Squad</li>" in html
