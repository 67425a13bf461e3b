"""Template helpers of the portal's pages: status badges, durations, inputs."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from catalogue.markdown import render_markdown
from portal.orders.choices import TERMINAL_STATUSES, OrderStatus
from portal.orders.seen import seen_token
from portal.web import wording
from portal.web.inputs import input_rows
from squads.selectors import display_name as _display_name

register = template.Library()

#: What a badge says next to the status, for people who cannot see its colour.
STATUS_ICONS: dict[str, str] = {
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


@register.inclusion_tag("portal/partials/status_badge.html")
def status_badge(status: str, order_id: int | None = None, oob: bool = False) -> dict[str, Any]:
    """A status as a coloured pill with an icon and words. With ``order_id``
    it can be refreshed in place (``oob``: as an HTMX out-of-band swap)."""
    known = status in OrderStatus.values
    return {
        "status": status,
        "label": wording.status_label(status),
        "icon": STATUS_ICONS.get(status, "") if known else "",
        "element_id": f"badge-{order_id}" if order_id else "",
        "oob": oob,
        "live": known and status not in TERMINAL_STATUSES,
    }


# The wording lives in portal.web.wording, shared with the API and insights;
# the filters keep their names for the templates.
#: A form's hidden ``seen``: the order's status and claimant as the page shows them.
register.filter("seen_token", seen_token)
register.filter("duration", wording.duration)
register.filter("failure_text", wording.failure_text)
register.filter("failure_why", wording.failure_why)
register.filter("sla", wording.sla)
register.filter("elapsed", wording.elapsed)
register.filter("status_label", wording.status_label)
register.filter("event_title", wording.event_title)
register.filter("event_note", wording.event_note)
register.filter("event_actor", wording.event_actor)


@register.inclusion_tag("portal/partials/inputs.html")
def order_inputs(schema: dict, inputs: dict, compact: bool = False) -> dict[str, Any]:
    return {"rows": input_rows(schema, inputs), "compact": compact}


@register.filter
def unavailable_choices(form: Any, name: str) -> str:
    """Why an order form's field has no choices now (a source down), else ""."""
    return form.unavailable(name) if hasattr(form, "unavailable") else ""


@register.filter
def description(form: Any, name: str) -> str:
    """A property's description from the order form, as sanitized HTML; any
    other form's help text, escaped."""
    if not hasattr(form, "description_html"):
        return conditional_escape(form.fields[name].help_text)
    return mark_safe(form.description_html(name))  # noqa: S308 - sanitized by catalogue.markdown


@register.filter
def markdown(text: str) -> str:
    """Markdown a runbook or squad wrote, as sanitized HTML."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitized by catalogue.markdown


@register.filter
def display_name(user: Any, nobody: str = "nobody") -> str:
    """A person as every page names them (``squads.selectors.display_name``)."""
    return _display_name(user or None, nobody)
