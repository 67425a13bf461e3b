"""The one table of the commands an order offers.

Each command is written here once: its name (in the page and API URLs and
in an order's ``actions``), the rule that says whether it is offered to a
person now, the service it calls, its label and summary, what text the
person may or must give (a note, a reason) and the message that tells them
it worked. The order pages, the API's order actions and ``order_actions``
all read this table, so that a new command, or a changed rule, is one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.contrib.auth.models import User

from portal.orders import permissions
from portal.orders.approvals import order_approve, order_reject
from portal.orders.cancellation import order_cancel
from portal.orders.choices import OrderStatus
from portal.orders.execution import order_dry_run, order_retry
from portal.orders.fulfilment import order_claim, order_complete, order_fail, order_release
from portal.orders.models import Order
from portal.orders.seen import Seen
from squads.selectors import AnyUser


@dataclass(frozen=True)
class OrderCommand:
    """One thing a person may do to an order."""

    name: str
    #: The words of its button.
    label: str
    #: What it does, in the API's documentation.
    summary: str
    #: Whether ``user`` is offered it on ``order`` now (the service checks again).
    offered: Callable[[AnyUser, Order], bool]
    #: The service: ``perform(order, actor, decision)`` returns the order as
    #: it now is.
    perform: Callable[[Order, User, Decision], Order]
    #: The message shown once it worked.
    succeeded: Callable[[Order], str]
    #: What the person writes with it: nothing, a note, or a reason.
    text: Literal["", "note", "reason"] = ""
    #: Whether that text is required (the service refuses it empty).
    text_required: bool = False
    #: Whether it decides an approval step, and so carries the step the person
    #: saw: a decision made on a stale page is refused, not applied to the next step.
    takes_step: bool = False
    #: Whether it carries the status and claimant the person saw
    #: (``portal.orders.seen``): made on a stale page it is refused.
    takes_seen: bool = False
    #: Whether the person may claim an unclaimed order as they give it
    #: ("Claim and complete": explicit, recorded as a claim on completion).
    takes_claim: bool = False


@dataclass(frozen=True)
class Decision:
    """What a person gives with a command: its ``text`` (note or reason),
    the approval ``step`` and the state they ``seen`` it in (None: not
    said), and whether they ``claim`` the order as they close it."""

    text: str = ""
    step: int | None = None
    seen: Seen | None = None
    claim: bool = False


def _cancelled(order: Order) -> str:
    if order.status == OrderStatus.RUNNING:
        return f"Cancellation of order #{order.pk} requested: its playbook stops within seconds."
    return f"Order #{order.pk} cancelled."


def _approved(order: Order) -> str:
    if order.status == OrderStatus.QUEUED:
        return f"Order #{order.pk} approved: it is queued to run."
    if order.status == OrderStatus.AWAITING_FULFILMENT:
        return f"Order #{order.pk} approved: it is in the {order.squad.name}'s queue."
    return f"Order #{order.pk} approved."


#: In the order they are listed (an order's ``actions``, the API's schema).
COMMANDS: tuple[OrderCommand, ...] = (
    OrderCommand(
        name="cancel",
        label="Cancel order",
        summary="Cancel an open order (a running one is stopped)",
        offered=permissions.offers_cancel,
        perform=lambda order, actor, given: order_cancel(
            order=order, actor=actor, reason=given.text, seen=given.seen
        ),
        succeeded=_cancelled,
        text="reason",
        takes_seen=True,
    ),
    OrderCommand(
        name="retry",
        label="Retry",
        summary="Run a failed or timed-out order again",
        offered=permissions.offers_retry,
        perform=lambda order, actor, given: order_retry(order=order, actor=actor),
        succeeded=lambda order: f"Order #{order.pk} is queued again (attempt {order.attempts + 1}).",
    ),
    OrderCommand(
        name="approve",
        label="Approve",
        summary="Approve an order waiting for your squad's decision",
        offered=permissions.offers_decision,
        perform=lambda order, actor, given: order_approve(
            order=order, actor=actor, note=given.text, step=given.step
        ),
        succeeded=_approved,
        text="note",
        takes_step=True,
    ),
    OrderCommand(
        name="reject",
        label="Reject",
        summary="Reject an order waiting for your squad's decision",
        offered=permissions.offers_decision,
        perform=lambda order, actor, given: order_reject(
            order=order, actor=actor, reason=given.text, step=given.step
        ),
        succeeded=lambda order: f"Order #{order.pk} rejected; the requester sees your reason.",
        text="reason",
        text_required=True,
        takes_step=True,
    ),
    OrderCommand(
        name="dry-run",
        label="Preview with a dry run",
        summary="Preview an order waiting for approval: run its runbook in check mode (changes nothing); "
        "the order's dry_run shows how it went and the end of its output",
        offered=permissions.offers_dry_run,
        perform=lambda order, actor, given: order_dry_run(order=order, actor=actor).order,
        succeeded=lambda order: (
            f"Dry run of order #{order.pk} requested: its output appears on its page shortly."
        ),
    ),
    OrderCommand(
        name="claim",
        label="Claim",
        summary="Take a manual order from your squad's queue",
        offered=permissions.offers_claim,
        perform=lambda order, actor, given: order_claim(order=order, actor=actor, seen=given.seen),
        succeeded=lambda order: f"You have claimed order #{order.pk}.",
        takes_seen=True,
    ),
    OrderCommand(
        name="complete",
        label="Complete",
        summary="Close a manual order you claimed as fulfilled (`claim`: claim an unclaimed one "
        "as you complete it, with a note)",
        offered=permissions.offers_closing,
        perform=lambda order, actor, given: order_complete(
            order=order, actor=actor, note=given.text, claim=given.claim, seen=given.seen
        ),
        succeeded=lambda order: f"Order #{order.pk} completed.",
        text="note",
        takes_seen=True,
        takes_claim=True,
    ),
    OrderCommand(
        name="fail",
        label="Mark failed",
        summary="Close a manual order you claimed as failed (`claim`: claim an unclaimed one as you fail it)",
        offered=permissions.offers_closing,
        perform=lambda order, actor, given: order_fail(
            order=order, actor=actor, reason=given.text, claim=given.claim, seen=given.seen
        ),
        succeeded=lambda order: f"Order #{order.pk} marked as failed; the requester sees your reason.",
        text="reason",
        text_required=True,
        takes_seen=True,
        takes_claim=True,
    ),
    OrderCommand(
        name="release",
        label="Give back to the queue",
        summary="Give a claimed manual order back to the squad's queue",
        offered=permissions.offers_release,
        perform=lambda order, actor, given: order_release(order=order, actor=actor, seen=given.seen),
        succeeded=lambda order: f"Order #{order.pk} is back in the {order.squad.name}'s queue.",
        takes_seen=True,
    ),
)

COMMANDS_BY_NAME = {command.name: command for command in COMMANDS}
COMMAND_NAMES = list(COMMANDS_BY_NAME)
#: The buttons' words, by name as a template can spell it (``dry_run``).
COMMAND_LABELS = {command.name.replace("-", "_"): command.label for command in COMMANDS}


def order_actions(user: AnyUser, order: Order) -> list[str]:
    """The commands ``user`` may give ``order`` now: the buttons of its page
    and the ``actions`` of its API detail, so both offer only what will work.
    A rule two commands share (approve and reject) is asked once."""
    verdicts: dict[Callable[[AnyUser, Order], bool], bool] = {}
    for command in COMMANDS:
        if command.offered not in verdicts:
            verdicts[command.offered] = command.offered(user, order)
    return [command.name for command in COMMANDS if verdicts[command.offered]]
