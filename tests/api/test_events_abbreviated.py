"""The API's run output weighs a page's worth per event, however much a
playbook printed: an event may store megabytes (the full log download
streams those), and a page of 200 such events must not be built in memory."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils.timezone import now

from portal.orders.submission import order_submit
from runbooks.models import RunEvent
from tests.instances import play

pytestmark = pytest.mark.django_db


@override_settings(SQUADRON_EVENT_STDOUT_LIMIT=1_000)
def test_a_huge_output_is_abbreviated_head_and_tail_in_a_constant_number_of_queries(
    api_for, product, requester
):
    order = play(order_submit(requester=requester, product=product, inputs={"hostname": "web-1"}))
    run = order.current_run
    huge = "HEAD" + "x" * 500_000 + "TAIL"
    start = RunEvent.objects.filter(run=run).count()
    RunEvent.objects.bulk_create(
        RunEvent(run=run, counter=start + 100 + index, event="runner_on_ok", stdout=huge, created_at=now())
        for index in range(30)
    )
    client = api_for(requester)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/orders/{order.pk}/events/?page_size=200")
    assert response.status_code == 200, response.content
    shown = [event["stdout"] for event in response.json()["results"] if event["stdout"].startswith("HEAD")]
    assert len(shown) == 30
    assert all(len(text) < 1_200 and text.endswith("TAIL") for text in shown)
    assert "characters of output left out here" in shown[0]
    assert len(response.content) < 30 * 1_500 + 50_000
    # However many events, a fixed number of queries (no column read row by row).
    assert len(queries) <= 12
    assert all(event["created_at"] for event in response.json()["results"])
