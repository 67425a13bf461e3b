""" "Download full log" has every line the run stored, however long, streamed
a bounded number of events at a time; the page may abbreviate a huge event,
the download never does."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runbooks.selectors import LOG_DOWNLOAD_CHUNK
from tests.portal.pages.test_my_orders_and_the_order_page import add_events, start, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(client, requester):
    client.force_login(requester)
    return client


def download(client, order, run) -> tuple[str, int]:
    """The downloaded text, and the queries it cost while streaming."""
    response = client.get(f"/orders/{order.pk}/runs/{run.pk}/log.txt")
    assert response.streaming
    with CaptureQueriesContext(connection) as queries:
        text = b"".join(response.streaming_content).decode()
    return text, len(queries)


def test_a_task_that_printed_20000_lines_downloads_with_every_line(rita, product, requester, settings):
    order = submit(product, requester)
    lines = [f"line {number:05d} of a very chatty task" for number in range(20_000)]
    run = start(order, "TASK [chatty]", "\n".join(lines), "PLAY RECAP")
    text, _ = download(rita, order, run)
    assert "left out" not in text
    assert text.splitlines() == ["TASK [chatty]", *lines, "PLAY RECAP"]
    # The page itself abbreviates the huge event (the download is a click away).
    settings.SQUADRON_EVENT_STDOUT_LIMIT = 1000
    html = rita.get(f"/orders/{order.pk}/").content.decode()
    assert "line 00000" in html and "line 19999" in html and "line 10000" not in html
    assert "characters of output left out here" in html


@pytest.mark.parametrize("count", [LOG_DOWNLOAD_CHUNK // 2, LOG_DOWNLOAD_CHUNK * 5 + 3])
def test_many_events_download_in_chunks_with_queries_bounded_by_chunks(rita, product, requester, count):
    order = submit(product, requester)
    run = start(order)
    add_events(run, [f"event {number}" for number in range(count)], first=1)
    text, queries = download(rita, order, run)
    assert text.splitlines() == [f"event {number}" for number in range(count)]
    chunks = count // LOG_DOWNLOAD_CHUNK + 1
    assert queries <= chunks + 1, "one query per chunk of events, never one per event"
