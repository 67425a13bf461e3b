"""The states of a service instance and the sets of them that rules check."""

from django.db import models


class InstanceState(models.TextChoices):
    """State names are part of the public API (DESIGN.md)."""

    PROVISIONING = "provisioning", "Provisioning"
    ACTIVE = "active", "Active"
    UPDATING = "updating", "Updating"
    FAILED = "failed", "Failed"
    DECOMMISSIONING = "decommissioning", "Decommissioning"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


#: States in which an operation of each kind may be ordered: anything on an
#: active instance; on one whose creation failed, only giving it up (delete).
OPERABLE_STATES = {
    "update": frozenset({InstanceState.ACTIVE}),
    "extend": frozenset({InstanceState.ACTIVE}),
    "delete": frozenset({InstanceState.ACTIVE, InstanceState.FAILED}),
}

#: States an instance is in while an order works on it.
BUSY_STATES = frozenset({InstanceState.PROVISIONING, InstanceState.UPDATING, InstanceState.DECOMMISSIONING})


class TransferState(models.TextChoices):
    """Where an offer of an instance to another person stands (part of the API)."""

    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"
    # Ended by Squadron: the instance was decommissioned while it was offered.
    CANCELLED = "cancelled", "Cancelled"


#: States in which its owner may offer an instance to someone else: not while
#: it is being made, nor once it is going or gone.
OFFERABLE_STATES = frozenset({InstanceState.ACTIVE, InstanceState.UPDATING, InstanceState.FAILED})
#: States in which an offer may be accepted (and no order may work on it then).
ACCEPTABLE_STATES = frozenset({InstanceState.ACTIVE, InstanceState.FAILED})
