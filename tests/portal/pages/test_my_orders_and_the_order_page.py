"""My orders and an order's page: who sees what, the live parts, the actions,
and what each costs in queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.inputs import MASK
from portal.orders.approvals import order_approve
from portal.orders.cancellation import order_cancel
from portal.orders.choices import OrderStatus
from portal.orders.execution import order_finish, order_retry, order_start
from portal.orders.fulfilment import order_claim, order_complete
from portal.orders.models import Order, OrderEvent
from portal.orders.submission import order_submit
from portal.web.pagination import cursor_of
from portal.web.wording import event_actor, event_note, event_title
from runbooks.choices import RunStatus
from runbooks.models import RunEvent
from runbooks.services import run_claim, run_finish
from tests.conftest import FORM
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

INPUTS = {"hostname": "web-01", "token": "tok-3n"}


def submit(product, requester, **extra):
    return order_submit(requester=requester, product=product, inputs={**INPUTS, **extra})


def start(order, *events: str, failed: frozenset[int] = frozenset()):
    """Start the order's run as a worker would, with ``events`` as its output."""
    run = order_start(order_id=order.pk)
    run_claim(run_id=run.pk, worker="test:1")
    add_events(run, events, first=1, failed=failed)
    order.refresh_from_db()
    return run


def add_events(run, lines, *, first, failed=frozenset()):
    RunEvent.objects.bulk_create(
        [
            RunEvent(
                run=run,
                counter=first + index,
                event="runner_on_ok",
                stdout=line,
                failed=(first + index) in failed,
                created_at=timezone.now(),
            )
            for index, line in enumerate(lines)
        ]
    )


def finish(order, run, status=RunStatus.SUCCEEDED):
    run_finish(run_id=run.pk, status=status, rc=0 if status == RunStatus.SUCCEEDED else 2, stats={})
    order_finish(order_id=order.pk, run=run)
    order.refresh_from_db()


@pytest.fixture
def rita(client, requester):
    client.force_login(requester)
    return client


# --- My orders -------------------------------------------------------------------------------


def test_my_orders_lists_only_my_orders_newest_first(rita, product, requester, outsider):
    first = submit(product, requester)
    mine = submit(product, requester)
    submit(product, outsider)
    response = rita.get("/orders/")
    assert [order.pk for order in response.context["page"].items] == [mine.pk, first.pk]


def test_my_orders_filters_by_status_and_by_open(rita, product, requester):
    queued = submit(product, requester)
    cancelled = submit(product, requester)
    order_cancel(order=cancelled, actor=requester)
    page = rita.get("/orders/", {"status": "cancelled"}).context["page"]
    assert [order.pk for order in page.items] == [cancelled.pk]
    page = rita.get("/orders/", {"status": "open"}).context["page"]
    assert [order.pk for order in page.items] == [queued.pk]
    assert len(rita.get("/orders/", {"status": "bogus"}).context["page"].items) == 2


def test_my_orders_pages_forward_and_back_without_gaps_or_counting(rita, product, requester):
    created = [submit(product, requester).pk for _ in range(60)]
    newest_first = list(reversed(created))
    seen, older = [], None
    with CaptureQueriesContext(connection) as queries:
        while True:
            page = rita.get("/orders/", {"older": older} if older else {}).context["page"]
            seen += [order.pk for order in page.items]
            if not page.older:
                break
            older = page.older
    assert seen == newest_first
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    back = rita.get("/orders/", {"newer": page.newer}).context["page"]
    assert [order.pk for order in back.items] == newest_first[25:50]


def test_paging_past_the_end_does_not_claim_there_are_no_orders(rita, product, requester):
    submit(product, requester)
    before_everything = cursor_of({"created_at": datetime(1970, 1, 1, tzinfo=UTC), "id": 0})
    html = rita.get("/orders/", {"older": before_everything}).content.decode()
    assert "No more orders this way" in html and "You have not ordered anything yet" not in html


def test_my_orders_queries_do_not_grow_with_the_number_of_orders(
    rita, product, requester, django_assert_max_num_queries
):
    submit(product, requester)
    with django_assert_max_num_queries(6) as few:
        rita.get("/orders/")
    for _ in range(40):
        submit(product, requester)
    with django_assert_max_num_queries(len(few.captured_queries)):
        rita.get("/orders/")


def test_open_orders_badges_refresh_until_none_is_open(rita, product, requester, outsider):
    mine = submit(product, requester)
    theirs = submit(product, outsider)
    html = rita.get("/orders/").content.decode()
    assert f'hx-get="/orders/badges/?ids={mine.pk}"' in html
    response = rita.get("/orders/badges/", {"ids": f"{mine.pk},{theirs.pk}"})
    html = response.content.decode()
    assert f'id="badge-{mine.pk}" hx-swap-oob="true"' in html
    assert f"badge-{theirs.pk}" not in html  # someone else's order says nothing
    order_cancel(order=mine, actor=requester)
    html = rita.get("/orders/badges/", {"ids": str(mine.pk)}).content.decode()
    assert "Cancelled" in html and "hx-trigger" not in html
    assert f'<span id="finished-{mine.pk}" hx-swap-oob="true"><time' in html, "its Finished cell too"
    huge = rita.get("/orders/badges/", {"ids": f"99999999999999999999,{mine.pk}"})
    assert huge.status_code == 200 and f"badge-{mine.pk}" in huge.content.decode()


# --- One order ---------------------------------------------------------------------------------


def test_someone_elses_order_does_not_exist_for_a_business_user(client, product, requester, outsider):
    order = submit(product, requester)
    run = start(order, "secret-free output")
    client.force_login(outsider)
    for url in [
        f"/orders/{order.pk}/",
        f"/orders/{order.pk}/live/",
        f"/orders/{order.pk}/runs/{run.pk}/log/",
        f"/orders/{order.pk}/runs/{run.pk}/log.txt",
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "web-01" not in response.content.decode()


def test_the_owning_squad_sees_the_order_and_another_squad_does_not(
    client, product, requester, engineer, other_member
):
    order = submit(product, requester)
    client.force_login(engineer)
    assert client.get(f"/orders/{order.pk}/").status_code == 200
    client.force_login(other_member)
    assert client.get(f"/orders/{order.pk}/").status_code == 404


def test_order_page_shows_inputs_with_secrets_masked_timeline_and_log(rita, product, requester):
    order = submit(product, requester)
    run = start(
        order, "\nTASK [Create the VM] ****", "ok: [localhost]", "fatal: [db]: FAILED! => boom", failed={3}
    )
    html = rita.get(f"/orders/{order.pk}/").content.decode()
    assert "web-01" in html and "tok-3n" not in html and MASK not in html and "••••••••" in html
    assert "Submitted" in html and f"Run {run.pk} started (attempt 1)" in html
    assert '<span class="log-head">TASK [Create the VM] ****</span>' in html
    assert '<div class="ev ev-failed" data-counter="3">' in html
    assert f'id="log-{run.pk}"' in html and 'hx-trigger="every 1s"' in html


def test_order_page_queries_do_not_grow_with_events_attempts_or_output(
    rita, product, requester, django_assert_max_num_queries
):
    order = submit(product, requester)
    run = start(order, "one line")
    with django_assert_max_num_queries(14) as few:
        rita.get(f"/orders/{order.pk}/")
    add_events(run, [f"line {n}" for n in range(2000)], first=2)
    finish(order, run, RunStatus.FAILED)
    for _ in range(3):
        order_retry(order=order, actor=order.requester)
        again = start(order, "retry output")
        finish(order, again, RunStatus.FAILED)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = rita.get(f"/orders/{order.pk}/")
    assert response.content.decode().count('class="attempt"') == 3  # earlier attempts, folded


def test_live_poll_sends_new_output_only_and_the_summary_when_the_order_moved(rita, product, requester):
    order = submit(product, requester)
    run = start(order, "first")
    page = rita.get(f"/orders/{order.pk}/")
    version = page.context["version"]
    quiet = rita.get(f"/orders/{order.pk}/live/", {"run": run.pk, "after": 1, "v": version}).content.decode()
    assert "hx-swap-oob" not in quiet and 'hx-trigger="every 1s"' in quiet
    add_events(run, ["second", "third"], first=2)
    fresh = rita.get(f"/orders/{order.pk}/live/", {"run": run.pk, "after": 1, "v": version}).content.decode()
    assert f'hx-swap-oob="beforeend:#log-{run.pk}"' in fresh
    assert "second" in fresh and "third" in fresh and "first" not in fresh
    assert "after=3" in fresh and 'id="order-summary"' not in fresh
    assert 'id="messages"' not in fresh
    finish(order, run)
    done = rita.get(f"/orders/{order.pk}/live/", {"run": run.pk, "after": 3, "v": version}).content.decode()
    assert 'id="order-summary"' in done and "Done in" in done
    # "Order placed: it will start in a moment" says nothing true any more.
    assert '<div class="messages" id="messages" role="status" hidden hx-swap-oob="true"></div>' in done
    assert f'id="attempt-head-{run.pk}" hx-swap-oob="true"' in done
    assert "hx-trigger" not in done and "data-finished" in done  # polling stops


def test_live_poll_swaps_in_a_new_attempt(rita, product, requester):
    order = submit(product, requester)
    run = start(order, "first attempt")
    finish(order, run, RunStatus.FAILED)
    order_retry(order=order, actor=requester)
    second = start(order, "second attempt")
    html = rita.get(f"/orders/{order.pk}/live/", {"run": run.pk, "after": 1, "v": "x"}).content.decode()
    assert 'id="order-runs"' in html and "second attempt" in html
    assert f"run={second.pk}" in html


def test_earlier_output_loads_a_page_above_what_is_shown(rita, product, requester):
    order = submit(product, requester)
    run = start(order, *[f"line {n}" for n in range(1, 1501)])
    html = rita.get(f"/orders/{order.pk}/runs/{run.pk}/log/", {"before": 1201}).content.decode()
    assert "line 201" in html and "line 1200" in html and "line 200<" not in html and "line 1201" not in html
    assert "before=201" in html  # the button for the page above
    html = rita.get(f"/orders/{order.pk}/runs/{run.pk}/log/", {"before": 201}).content.decode()
    assert "line 1<" in html and "Start of the output" in html and "data-log-earlier" not in html


def test_a_run_of_another_order_is_not_found_through_this_one(rita, product, requester):
    mine = submit(product, requester)
    other = submit(product, requester)
    start(mine, "mine")
    other_run = start(other, "other")
    assert rita.get(f"/orders/{mine.pk}/runs/{other_run.pk}/log/").status_code == 404


def test_the_whole_log_downloads_as_plain_text(rita, product, requester):
    order = submit(product, requester)
    run = start(order, "\x1b[0;32mok: [localhost]\x1b[0m", "done <b>")
    response = rita.get(f"/orders/{order.pk}/runs/{run.pk}/log.txt")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert f'filename="order-{order.pk}-attempt-1.log"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).decode() == "ok: [localhost]\ndone <b>\n"


# --- Actions -------------------------------------------------------------------------------------


def snapshot(order):
    order.refresh_from_db()
    return (
        order.status,
        order.updated_at,
        list(OrderEvent.objects.filter(order=order).values_list("id", flat=True)),
    )


def test_requester_cancels_a_queued_order(rita, product, requester):
    order = submit(product, requester)
    response = rita.post(f"/orders/{order.pk}/cancel/", {"note": "Changed my mind"}, follow=True)
    assert f"Order #{order.pk} cancelled." in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.events.last().note == "Changed my mind"


def test_a_refused_action_shows_the_reason_and_changes_nothing(rita, product, requester):
    order = submit(product, requester)
    order_cancel(order=order, actor=requester)
    before = snapshot(order)
    response = rita.post(f"/orders/{order.pk}/cancel/", follow=True)
    assert "cannot become cancelled" in response.content.decode()
    assert snapshot(order) == before
    response = rita.post(f"/orders/{order.pk}/approve/", follow=True)
    assert "it is not waiting for approval" in response.content.decode()
    assert snapshot(order) == before


def test_approving_ones_own_waiting_order_is_refused_with_the_reason(client, approval_product, member):
    order = submit(approval_product, member)
    before = snapshot(order)
    client.force_login(member)
    response = client.post(f"/orders/{order.pk}/approve/", follow=True)
    assert "You cannot approve or reject your own order." in response.content.decode()
    assert snapshot(order) == before


def test_an_outsider_cannot_act_on_an_order_at_all(client, product, requester, outsider):
    order = submit(product, requester)
    before = snapshot(order)
    client.force_login(outsider)
    for action in ("cancel", "retry", "approve", "reject", "claim", "complete", "fail"):
        assert client.post(f"/orders/{order.pk}/{action}/", {"note": "x"}).status_code == 404
    assert snapshot(order) == before


def test_actions_need_post(rita, product, requester):
    order = submit(product, requester)
    # A GET does nothing but lead to the order's page (no bare 405).
    response = rita.get(f"/orders/{order.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.QUEUED


def test_retry_is_offered_for_a_failed_run_and_queues_a_new_attempt(rita, product, requester):
    order = submit(product, requester)
    run = start(order, "boom")
    finish(order, run, RunStatus.FAILED)
    html = rita.get(f"/orders/{order.pk}/").content.decode()
    assert f'action="/orders/{order.pk}/retry/"' in html
    response = rita.post(f"/orders/{order.pk}/retry/", follow=True)
    assert f"Order #{order.pk} is queued again (attempt 2)." in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.QUEUED


def test_retry_is_not_offered_once_the_secrets_are_erased(rita, product, requester):
    order = submit(product, requester)
    run = start(order, "boom")
    finish(order, run, RunStatus.FAILED)
    Order.objects.filter(pk=order.pk).update(secret_inputs_ciphertext="")
    html = rita.get(f"/orders/{order.pk}/").content.decode()
    assert "/retry/" not in html and "cannot run again" in html
    assert f'href="/products/vm/?again={order.pk}#order">Order again with these details</a>' in html


def test_ordering_again_fills_the_form_with_the_earlier_details_but_not_its_secrets(
    rita, client, product, requester, outsider
):
    order = submit(product, requester, hostname="web-07", size=9)
    page = rita.get(f"/products/vm/?again={order.pk}")
    html = page.content.decode()
    assert f'Filled in from <a href="/orders/{order.pk}/">order #{order.pk}</a>' in html
    assert 'value="web-07"' in html and 'value="9"' in html
    assert "tok-3n" not in html and "type them again" in html
    assert Order.objects.count() == 1, "nothing is ordered until reviewed and placed"

    client.force_login(outsider)
    html = client.get(f"/products/vm/?again={order.pk}").content.decode()
    assert "web-07" not in html and "Filled in from" not in html, "someone else's order is not copied"
    assert 'value="web-07"' not in rita.get("/products/vm/?again=abc").content.decode()


def test_an_approver_decides_on_the_order_page(client, approval_product, requester, member):
    order = submit(approval_product, requester)
    client.force_login(member)
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert (
        f'action="/orders/{order.pk}/approve/"' in html and f'formaction="/orders/{order.pk}/reject/"' in html
    )
    response = client.post(f"/orders/{order.pk}/reject/", {"note": "Use the shared cluster"}, follow=True)
    assert f"Order #{order.pk} rejected" in response.content.decode()
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (OrderStatus.REJECTED, "Use the shared cluster")


def test_a_squad_member_fulfils_a_manual_order_from_its_page(client, manual_product, requester, engineer):
    order = submit(manual_product, requester)
    client.force_login(engineer)
    client.post(f"/orders/{order.pk}/claim/")
    response = client.post(f"/orders/{order.pk}/fail/", {"note": ""}, follow=True)
    assert "Say why the order could not be fulfilled." in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_FULFILMENT
    client.post(f"/orders/{order.pk}/complete/", {"note": "Database created"})
    order.refresh_from_db()
    assert (order.status, order.resolution_note, order.claimed_by) == (
        OrderStatus.SUCCEEDED,
        "Database created",
        engineer,
    )


def test_after_an_action_the_user_goes_back_where_they_were_but_never_off_site(
    client, approval_product, requester, member
):
    first = submit(approval_product, requester)
    second = submit(approval_product, requester)
    client.force_login(member)
    assert client.post(f"/orders/{first.pk}/approve/", {"next": "/approvals/"})["Location"] == "/approvals/"
    response = client.post(f"/orders/{second.pk}/approve/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/orders/{second.pk}/"


def test_an_overlong_note_is_refused_and_changes_nothing(client, approval_product, requester, member):
    order = submit(approval_product, requester)
    before = snapshot(order)
    client.force_login(member)
    response = client.post(f"/orders/{order.pk}/approve/", {"note": "x" * 2001}, follow=True)
    assert "at most 2000 characters" in response.content.decode()
    assert snapshot(order) == before


def test_the_timeline_says_what_each_step_meant(client, requester, member, squad):
    product = ProductFactory(
        slug="fw",
        squad=squad,
        form_schema=FORM,
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
        approval_policy=ApprovalPolicy.SQUAD,
    )
    order = submit(product, requester)
    order_approve(order=order, actor=member, note="Looks right")
    order_claim(order=order, actor=member)
    order_complete(order=order, actor=member, note="Done on both firewalls")
    client.force_login(requester)
    response = client.get(f"/orders/{order.pk}/")
    titles = [
        (event_title(event), event_actor(event), event_note(event)) for event in response.context["events"]
    ]
    assert titles == [
        ("Submitted", "rita", ""),
        ("Approved", "nora", "Approved step 1/1 (Network Squad approval): Looks right"),
        ("Claimed by nora", "", ""),
        ("Completed", "nora", "Done on both firewalls"),
    ]


def test_an_order_waiting_for_people_is_polled_less_often(rita, approval_product, requester):
    order = submit(approval_product, requester)
    assert 'hx-trigger="every 5s"' in rita.get(f"/orders/{order.pk}/").content.decode()


def test_a_live_part_whose_session_ended_sends_the_page_to_the_login_form(client, product, requester):
    order = submit(product, requester)
    response = client.get(
        f"/orders/{order.pk}/live/",
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver/orders/{order.pk}/"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/login/?next=/orders/{order.pk}/"
    assert response.content == b""
