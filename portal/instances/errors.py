"""The refusals of the instance services, each with a message fit for the
user. They are order errors: ordering an operation is placing an order, and
the faces report both alike."""

from __future__ import annotations

from portal.orders.errors import OrderError, OrderNotAllowed


class InstanceError(OrderError):
    """A refused change to an instance."""


class InstanceNotFound(InstanceError):
    """No such instance, or one the person may not see (a 404 either way)."""


class InstanceNotAllowed(InstanceError, OrderNotAllowed):
    """The person sees the instance but may not order this for it."""


class InstanceBusy(InstanceError):
    """Another order works on the instance; ``order_id`` names it."""

    def __init__(self, message: str, *, order_id: int) -> None:
        super().__init__(message)
        self.order_id = order_id


class InstanceNotOperable(InstanceError):
    """The instance's state does not allow this operation (decommissioned…)."""


class UnknownOperation(InstanceError):
    """The product offers no operation of that name."""


class TransferNotAllowed(InstanceNotAllowed):
    """The person sees the instance but may not do this with its transfer
    (only the owner offers and withdraws; only the recipient decides)."""


class InvalidTransfer(InstanceError):
    """An offer that names nobody it can go to (unknown, deactivated,
    ambiguous, its owner already) or carries a note too long; ``field`` is
    the field at fault (``to``, ``note``)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class TransferConflict(InstanceError):
    """The transfer cannot happen as things stand now (one already pending,
    none pending, decided meanwhile, an order working on the instance...);
    ``code`` says which, for API clients."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
