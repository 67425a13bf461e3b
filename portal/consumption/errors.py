"""The refusals of the consumption domain, each with a message fit for the
user. They are order errors: they refuse a placement, and the faces report
them as they report any refused order."""

from __future__ import annotations

from portal.orders.errors import OrderError


class ConsumptionError(OrderError):
    """A refused placement or change for consumption's reasons."""


class BusinessUnitChoiceError(ConsumptionError):
    """The business unit named for an order cannot be used, or one must be
    named: the message says which and why (the field is ``business_unit``)."""


class QuotaExceeded(ConsumptionError):
    """The order would take its business unit over a quota of the product
    that refuses orders over quota: the message names the quota, its limit
    and the current use."""


class InvalidQuota(ConsumptionError):
    """A quota that cannot be set (negative, on an attribute the product's
    instances do not have…); ``field`` names what is wrong."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
