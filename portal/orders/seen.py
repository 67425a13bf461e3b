"""What a person saw of an order when they decided: a claim, release,
completion, failure or cancellation is bound to it.

A squad member who opens the queue, leaves for lunch and clicks Complete on
an order a colleague has since claimed, given back or failed must not
complete it: the decision was made on a page that no longer tells the truth.
The page sends the status and claimant it showed (a hidden ``seen`` field),
the API the ``status`` and ``claimed_by`` its client read; when either no
longer matches the service refuses with what happened meanwhile
(``StaleState``) and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.orders.choices import OrderStatus
from portal.orders.errors import StaleState
from portal.orders.models import Order, OrderEvent
from portal.orders.transitions import STATUS_PHRASES, sentence
from squads.selectors import display_name


@dataclass(frozen=True)
class Seen:
    """The order as shown to the person: its ``status`` and the username of
    its ``claimant`` ("" when unclaimed); None for what they did not say."""

    status: str | None = None
    claimant: str | None = None

    @classmethod
    def of(cls, order: Order) -> Seen:
        return cls(status=order.status, claimant=order.claimed_by.username if order.claimed_by else "")

    def token(self) -> str:
        """The hidden field's value: ``status:claimant``."""
        return f"{self.status or ''}:{self.claimant or ''}"

    @classmethod
    def from_token(cls, token: str) -> Seen | None:
        """The ``Seen`` of a page's hidden field; None when it is not one
        (ValueError: a page never sends that)."""
        if not token:
            return None
        status, separator, claimant = token.partition(":")
        if not separator or status not in OrderStatus.values:
            raise ValueError("The page sent an order state it could not have shown.")
        return cls(status=status, claimant=claimant)


def seen_token(order: Order) -> str:
    return Seen.of(order).token()


def refuse_if_stale(order: Order, seen: Seen | None) -> None:
    """Raise ``StaleState`` if ``order`` (read under lock) is no longer what
    ``seen`` says the person saw."""
    if seen is None:
        return
    now = Seen.of(order)
    status_moved = seen.status is not None and seen.status != now.status
    claim_moved = seen.claimant is not None and seen.claimant != now.claimant
    if not (status_moved or claim_moved):
        return
    last = OrderEvent.objects.filter(order_id=order.pk).select_related("actor").order_by("-id").first()
    by = f" by {display_name(last.actor)}" if last is not None and last.actor is not None else ""
    if status_moved:
        happened = f"Order #{order.pk} {STATUS_PHRASES[order.status]}{by} meanwhile"
        if last is not None and last.note and last.to_status == order.status:
            happened += f" (“{last.note}”)"
    elif now.claimant:
        happened = f"Order #{order.pk} was claimed by {display_name(order.claimed_by)} meanwhile"
    else:
        happened = f"Order #{order.pk} was given back to the squad's queue{by} meanwhile"
    raise StaleState(
        f"{sentence(happened)} Nothing was recorded: look at it again before you decide.",
        status=order.status,
        claimant=now.claimant or None,
    )
