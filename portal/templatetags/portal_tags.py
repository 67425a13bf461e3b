"""Template helpers of the portal's pages: status badges, durations, inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from catalogue.schema import secret_fields
from portal.orders.choices import TERMINAL_STATUSES, OrderStatus
from portal.pages.forms import field_title
from runbooks.services import WORKER_LOST
from squads.selectors import display_name as _display_name

register = template.Library()

#: What a badge says next to the status, for people who cannot see its colour.
STATUS_ICONS = {
    OrderStatus.PENDING_APPROVAL: "◷",
    OrderStatus.REJECTED: "✕",
    OrderStatus.QUEUED: "…",
    OrderStatus.RUNNING: "▶",
    # Geometric shapes, not emoji: they render alike everywhere, in the text colour.
    OrderStatus.AWAITING_FULFILMENT: "◐",
    OrderStatus.SUCCEEDED: "✓",
    OrderStatus.FAILED: "✕",
    OrderStatus.TIMED_OUT: "◔",
    OrderStatus.CANCELLED: "⊘",
}
SECRET_DISPLAY = "••••••••"  # noqa: S105 - what a hidden secret looks like, not a secret


@register.inclusion_tag("portal/partials/status_badge.html")
def status_badge(status: str, order_id: int | None = None, oob: bool = False) -> dict[str, Any]:
    """A status as a coloured pill with an icon and words. With ``order_id``
    it can be refreshed in place (``oob``: as an HTMX out-of-band swap)."""
    known = status in OrderStatus.values
    return {
        "status": status,
        "label": OrderStatus(status).label if known else status,
        "icon": STATUS_ICONS.get(status, "") if known else "",
        "element_id": f"badge-{order_id}" if order_id else "",
        "oob": oob,
        "live": known and status not in TERMINAL_STATUSES,
    }


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


@register.filter
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


@register.filter
def failure_text(reason: str | None) -> str:
    """An order's failure reason as a person reads it."""
    if not reason:
        return ""
    return FAILURE_CODES.get(reason, reason)


@register.filter
def sla(minutes: int | None) -> str:
    if not minutes:
        return "—"
    return duration(timedelta(minutes=minutes))


@dataclass(frozen=True)
class InputRow:
    name: str
    label: str
    value: str
    secret: bool
    empty: bool


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if value is None:
        return ""
    return str(value)


def input_rows(schema: dict, inputs: dict) -> list[InputRow]:
    """The inputs in the form's order with their titles; a secret is shown as
    dots whatever the value holds (clear on the review page, masked in an order)."""
    properties = (schema or {}).get("properties") or {}
    secrets = secret_fields(schema or {})
    names = [name for name in properties if name in inputs] + [
        name for name in inputs if name not in properties
    ]
    rows = []
    for name in names:
        value = inputs[name]
        secret = name in secrets and value not in (None, "")
        shown = SECRET_DISPLAY if secret else _display(value)
        rows.append(
            InputRow(
                name=name,
                label=field_title(name, properties.get(name) or {}),
                value=shown,
                secret=secret,
                empty=shown == "",
            )
        )
    return rows


@register.inclusion_tag("portal/partials/inputs.html")
def order_inputs(schema: dict, inputs: dict, compact: bool = False) -> dict[str, Any]:
    return {"rows": input_rows(schema, inputs), "compact": compact}


@register.filter
def description(form: Any, name: str) -> str:
    """A property's description from the order form, as sanitized HTML; any
    other form's help text, escaped."""
    if not hasattr(form, "description_html"):
        return conditional_escape(form.fields[name].help_text)
    return mark_safe(form.description_html(name))  # noqa: S308 - sanitized by catalogue.markdown


@register.filter
def elapsed(start: Any, end: Any) -> str:
    """``{{ started|elapsed:finished }}``: how long it took."""
    if not start or not end:
        return "—"
    return duration(end - start)


@register.filter
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


@register.filter
def event_title(event: Any) -> str:
    if not event.from_status:
        return "Submitted"
    if event.from_status == event.to_status:
        return _note_parts(str(event.note))[0]
    return EVENT_TITLES.get((event.from_status, event.to_status)) or status_label(event.to_status)


@register.filter
def event_note(event: Any) -> str:
    """The event's note when it says more than its title."""
    if event.from_status == event.to_status:
        return _note_parts(str(event.note))[1]
    if event.note in DEFAULT_NOTES:
        return ""
    return "" if event.note == event_title(event) else str(event.note)


@register.filter
def event_actor(event: Any) -> str:
    """Who did it, unless the note already says ("Claimed by Nora Lind")."""
    actor = event.actor
    if actor is None:
        return ""
    named = _display_name(actor)
    if event.from_status == event.to_status and named in event.note:
        return ""
    return named


@register.filter
def display_name(user: Any, nobody: str = "nobody") -> str:
    """A person as every page names them (``squads.selectors.display_name``)."""
    return _display_name(user or None, nobody)
