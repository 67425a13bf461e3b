"""The words both faces (and insights) use for what the domains record:
durations, failure reasons, status labels, SLAs and the titles of an order's
timeline. Plain functions: the template tags (``portal_tags``) only register
them as filters under their names."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from portal.integrations.models import WebhookDelivery
from portal.integrations.webhooks.delivery import EVENT_STATUS_CHANGED
from portal.orders.choices import OrderStatus
from runbooks.services import WORKER_LOST
from squads.selectors import display_name


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration(value: timedelta | None) -> str:
    """A wait as people say it: "45 s", "3 min 20 s", "2 h 5 min", "3 days 4 h"."""
    if value is None:
        return "—"
    # Rounded to the last unit shown, never cut off: the dashboards and the
    # API's seconds then agree with what a page says.
    seconds = max(round(value.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 600:
        minutes, seconds = divmod(seconds, 60)
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    hours = round(minutes / 60)
    days, hours = divmod(hours, 24)
    return f"{_plural(days, 'day')} {hours} h" if hours else _plural(days, "day")


#: Failure codes the system records (kept as codes for the API and grouping),
#: said in words where people read them.
FAILURE_CODES = {
    WORKER_LOST: "the worker running it stopped answering (killed, or its machine lost), "
    "so the run was given up; retry it",
}


def failure_text(reason: str | None) -> str:
    """An order's failure reason as a person reads it."""
    if not reason:
        return ""
    return FAILURE_CODES.get(reason, reason)


def failure_why(reason: str | None, step: str) -> str:
    """Why a step failed, without the ``task <step> on host <host>: `` the
    run's reason starts with (the page names the step on its own)."""
    text = failure_text(reason)
    prefix = f"task {step} on host "
    if step and text.startswith(prefix) and ": " in text[len(prefix) :]:
        return text[len(prefix) :].split(": ", 1)[1]
    return text


def sla(minutes: int | None) -> str:
    if not minutes:
        return "—"
    return duration(timedelta(minutes=minutes))


def elapsed(start: Any, end: Any) -> str:
    """``{{ started|elapsed:finished }}``: how long it took."""
    if not start or not end:
        return "—"
    return duration(end - start)


def status_label(status: str) -> str:
    return OrderStatus(status).label if status in OrderStatus.values else status


#: What a move means to a reader of the timeline, where the new status alone
#: would say it less well ("Awaiting fulfilment" after an approval).
EVENT_TITLES = {
    (OrderStatus.PENDING_APPROVAL, OrderStatus.QUEUED): "Approved",
    (OrderStatus.PENDING_APPROVAL, OrderStatus.AWAITING_FULFILMENT): "Approved",
    (OrderStatus.PENDING_APPROVAL, OrderStatus.REJECTED): "Rejected",
    (OrderStatus.QUEUED, OrderStatus.RUNNING): "Started",
    (OrderStatus.AWAITING_FULFILMENT, OrderStatus.SUCCEEDED): "Completed",
    (OrderStatus.AWAITING_FULFILMENT, OrderStatus.FAILED): "Marked failed",
    (OrderStatus.FAILED, OrderStatus.QUEUED): "Queued again",
    (OrderStatus.TIMED_OUT, OrderStatus.QUEUED): "Queued again",
}
#: Notes the services record by default: they would only repeat the title.
DEFAULT_NOTES = {"Submitted", "Approved", "Fulfilled", "Cancelled"}


def _note_parts(note: str) -> tuple[str, str]:
    """A note without a status change, as a title and the rest: "Approved
    step 1/2 (Squad review): Looks fine. Step 2 opens." is titled by its
    first clause, and what the person wrote reads as the note."""
    match = _FIRST_CLAUSE.match(note)
    if match is None:
        return note, ""
    return match["title"], match["rest"]


_FIRST_CLAUSE = re.compile(r"(?P<title>[^:]+?)(?::|(?<!\.)\.)\s+(?P<rest>\S.*)", re.DOTALL)


def event_title(event: Any) -> str:
    if not event.from_status:
        return "Submitted"
    if event.from_status == event.to_status:
        return _note_parts(str(event.note))[0]
    return EVENT_TITLES.get((event.from_status, event.to_status)) or status_label(event.to_status)


def event_note(event: Any) -> str:
    """The event's note when it says more than its title."""
    if event.from_status == event.to_status:
        return _note_parts(str(event.note))[1]
    if event.note in DEFAULT_NOTES:
        return ""
    return "" if event.note == event_title(event) else str(event.note)


def event_actor(event: Any) -> str:
    """Who did it, unless the note already says ("Claimed by Nora Lind")."""
    actor = event.actor
    if actor is None:
        return ""
    named = display_name(actor)
    if event.from_status == event.to_status and named in event.note:
        return ""
    return named


def status_change_text(delivery: WebhookDelivery) -> str:
    """What a status-change delivery told, in words ("Queued → Running");
    empty for other events."""
    if delivery.event != EVENT_STATUS_CHANGED:
        return ""
    try:
        body = json.loads(delivery.body)
    except ValueError:
        return ""
    before, after = body.get("from_status"), body.get("to_status")
    if not before:
        return f"placed, {status_label(after)}"
    return f"{status_label(before)} → {status_label(after)}"
