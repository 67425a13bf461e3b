"""The refusals of the order services, each with a message fit for the user."""

from __future__ import annotations


class OrderError(Exception):
    """A refused change to an order, with a message fit for the user."""


class OrderNotAllowed(OrderError):
    """The actor may not do this to this order."""


class IllegalTransition(OrderError):
    """The order's status does not allow this move (perhaps any more)."""


class StaleDecision(IllegalTransition):
    """A decision made on an approval step that is no longer the open one:
    someone decided it meanwhile. ``current_step`` is the open step's index
    (None when no step is open any more)."""

    def __init__(self, message: str, *, current_step: int | None) -> None:
        super().__init__(message)
        self.current_step = current_step


class StaleState(IllegalTransition):
    """A claim, release, completion, failure or cancellation made on a page
    (or an API read) that showed the order in a state it is no longer in:
    someone moved it meanwhile. ``status`` and ``claimant`` (a username,
    None when unclaimed) say what it is now."""

    def __init__(self, message: str, *, status: str, claimant: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.claimant = claimant


class InvalidInputs(OrderError):
    """Inputs do not fit the product's form; ``errors`` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The inputs do not fit the product's form.")
        self.errors = errors


class ProductNotOrderable(OrderError):
    """The product is not published (draft or retired) or cannot run."""
