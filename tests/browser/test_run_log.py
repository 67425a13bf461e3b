"""The run log of a huge run stays light and responsive in the browser:
only the tail is in the page, earlier output loads on demand, new output
arrives live and is followed until the reader scrolls up."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from portal.orders.execution import order_finish, order_start
from portal.orders.submission import order_submit
from portal.web.runlog import TAIL_EVENTS
from runbooks.choices import RunStatus
from runbooks.models import RunEvent
from runbooks.services import run_claim, run_finish
from tests.browser.conftest import check_accessibility, log_in, screenshot
from tests.factories import ProductFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

HUGE = 50_000


def add_events(run_id: int, first: int, count: int, *, failed_every: int = 0) -> None:
    now = timezone.now()
    RunEvent.objects.bulk_create(
        [
            RunEvent(
                run_id=run_id,
                counter=counter,
                event="runner_on_failed" if failed_every and counter % failed_every == 0 else "runner_on_ok",
                host="localhost",
                task=f"Step {counter}",
                stdout=(
                    f"fatal: [localhost]: FAILED! => line {counter}"
                    if failed_every and counter % failed_every == 0
                    else f"ok: [localhost] => line {counter}"
                ),
                failed=bool(failed_every and counter % failed_every == 0),
                created_at=now,
            )
            for counter in range(first, first + count)
        ],
        batch_size=5000,
    )


def started_order(slug: str, name: str, label: str):  # type: ignore[no-untyped-def]
    """Bea's order of a Platform Squad product, its run taken by a worker."""
    squad = SquadFactory(slug="platform", name="Platform Squad")
    product = ProductFactory(slug=slug, name=name, squad=squad)
    requester = UserFactory(username="bea", first_name="Bea", last_name="Fischer")
    order = order_submit(requester=requester, product=product, inputs={"name": label})
    run = order_start(order_id=order.pk)
    run_claim(run_id=run.pk, worker="test:1")
    return order, run, requester


@pytest.fixture
def running_order(transactional_db):  # type: ignore[no-untyped-def]
    order, run, requester = started_order("big-job", "Big job", "huge")
    add_events(run.pk, 1, HUGE, failed_every=10_000)
    order.refresh_from_db()
    return order, run, requester


def log_state(page, run_id):  # type: ignore[no-untyped-def]
    return page.evaluate(
        """(id) => { const log = document.getElementById('log-' + id);
        return {events: log.querySelectorAll('.ev').length,
                first: Number(log.querySelector('.ev').dataset.counter),
                last: Number(log.querySelector('.ev:last-of-type').dataset.counter),
                fromBottom: log.scrollHeight - log.scrollTop - log.clientHeight,
                top: log.scrollTop} }""",
        run_id,
    )


def test_a_fifty_thousand_line_log_shows_its_tail_loads_earlier_parts_and_follows_new_output(
    page, running_order
):
    order, run, requester = running_order
    log_in(page, requester)
    started = time.monotonic()
    page.goto(f"/orders/{order.pk}/")
    load_seconds = time.monotonic() - started
    log = page.locator(f"#log-{run.pk}")
    expect(log).to_contain_text(f"line {HUGE}")
    state = log_state(page, run.pk)
    assert state["events"] == TAIL_EVENTS and state["last"] == HUGE
    assert state["fromBottom"] <= 2, "the log opens at its end"
    assert load_seconds < 3, f"the page took {load_seconds:.1f}s to load"
    expect(log.locator(".ev-failed")).to_contain_text(f"FAILED! => line {HUGE}")  # failures stand out
    screenshot(page, "order-huge-log")
    check_accessibility(page, "order page with a huge log")

    # Reading earlier output: the lines being read stay in place.
    log.evaluate("element => { element.scrollTop = 0 }")
    follow = page.get_by_role("button", name="Follow the latest output")
    expect(follow).to_be_visible()
    first_shown = page.locator(f"#log-{run.pk} .ev[data-counter='{state['first']}']")
    # Where the line sits in the log's own window: clicking the button may
    # scroll the page to reach it, which moves both alike.
    before = first_shown.bounding_box()["y"] - log.bounding_box()["y"]
    page.get_by_role("button", name="Show earlier output").click()
    expect(log.locator(".ev")).to_have_count(TAIL_EVENTS + 1000)
    assert abs(first_shown.bounding_box()["y"] - log.bounding_box()["y"] - before) < 30
    assert log_state(page, run.pk)["first"] == HUGE - TAIL_EVENTS - 1000 + 1

    # New output while the reader is up in the log: it arrives, the view stays.
    top = log_state(page, run.pk)["top"]
    add_events(run.pk, HUGE + 1, 3)
    expect(log).to_contain_text(f"line {HUGE + 3}", timeout=5_000)
    assert abs(log_state(page, run.pk)["top"] - top) < 2

    # Following again: new output scrolls into view, and the page never holds
    # more than a few thousand events however much arrives.
    follow.click()
    expect(follow).to_be_hidden()
    add_events(run.pk, HUGE + 4, 3_500)
    expect(log).to_contain_text(f"line {HUGE + 3_503}", timeout=15_000)
    page.wait_for_timeout(300)
    state = log_state(page, run.pk)
    assert state["last"] == HUGE + 3_503
    assert state["events"] <= 3_000
    assert state["fromBottom"] <= 30
    expect(log.locator("[data-log-earlier]")).to_have_count(1)

    # The run ends: the page says so and stops polling.
    run_finish(
        run_id=run.pk, status=RunStatus.SUCCEEDED, rc=0, stats={"localhost": {"ok": 53_503, "failures": 0}}
    )
    order_finish(order_id=order.pk, run=run)
    expect(page.locator("#order-head .badge")).to_have_text(re.compile("Succeeded"), timeout=5_000)
    expect(page.locator(f"#attempt-head-{run.pk}")).to_contain_text("Succeeded")
    expect(page.locator("#order-poller[data-finished]")).to_have_count(1)


def test_my_orders_follows_an_open_order_to_its_end_without_reloading(page, transactional_db):
    order, run, requester = started_order("small-job", "Small job", "small")
    log_in(page, requester)
    page.goto("/orders/")
    page.evaluate("window.__sameDocument = true")
    badge, finished = page.locator(f"#badge-{order.pk}"), page.locator(f"#finished-{order.pk}")
    expect(badge).to_have_text(re.compile("Running"))
    expect(finished).to_have_text("—")

    run_finish(run_id=run.pk, status=RunStatus.SUCCEEDED, rc=0, stats={"localhost": {"ok": 1, "failures": 0}})
    order_finish(order_id=order.pk, run=run)

    expect(badge).to_have_text(re.compile("Succeeded"), timeout=5_000)
    expect(finished.locator("time")).to_have_count(1)  # the Finished column too
    assert page.evaluate("window.__sameDocument") is True
