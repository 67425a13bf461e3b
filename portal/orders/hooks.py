"""What other domains learn of an order's life, without this domain
importing them.

The instance domain (``portal.instances``) imports the order domain; the
order domain must not import it back. So it registers here, when the portal
app is ready (``portal.apps``), the way ``portal.orders.execution`` registers
its run-task rules with ``portal.task_signing``:

- a *move observer*, told of every change of an order's status (placement
  included) inside the transaction of the change. It may refuse the move by
  raising an ``OrderError`` (an operation on an instance another order works
  on), which rolls the move back; it must never raise on a move into a
  terminal status, which records what already happened;
- a *run context*, the variables an order's run gets besides its inputs
  (``squadron_instance``) and the secret values among them to mask;
- an *admission check*, asked inside the placement's transaction before the
  order is created (``portal.consumption`` registers the business unit's
  choice and its quotas): it may refuse the placement by raising an
  ``OrderError``, say which business unit the order is for, and send an
  order that would otherwise need no approval to approval, saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User

if TYPE_CHECKING:  # the order models import nothing from here
    from catalogue.models import Operation, Product
    from portal.orders.models import Order


@dataclass(frozen=True)
class OrderMove:
    """A change of an order's status, as observers are told of it
    (``from_status`` is "" when the order was just placed)."""

    order: Order
    from_status: str
    to_status: str
    actor: User | None
    note: str


@dataclass(frozen=True)
class RunContext:
    """Variables Squadron adds to an order's run (written ``!unsafe``) and
    the secret values among them, masked in the run's output."""

    variables: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Placement:
    """An order about to be placed, as admission checks see it: what is
    ordered, against which instance (an operation), with which inputs
    (completed with the form's defaults, secrets masked), and the business
    unit the requester chose (a slug, None when they named none)."""

    requester: User
    product: Product
    operation: Operation | None
    instance_id: int | None
    inputs: dict[str, Any]
    business_unit: str | None


@dataclass(frozen=True)
class Admission:
    """What an admission check decided about a placement it lets through:
    the business unit the order is for (None: it says nothing of one), and
    why the order must wait for approval (empty: no reason of its own)."""

    business_unit_id: int | None = None
    approval_reason: str = ""


MoveObserver = Callable[[OrderMove], None]
RunContextProvider = Callable[["Order"], RunContext]
AdmissionCheck = Callable[[Placement], Admission]

_move_observers: dict[str, MoveObserver] = {}
_run_context_providers: dict[str, RunContextProvider] = {}
_admission_checks: dict[str, AdmissionCheck] = {}


def order_move_observer_register(name: str, observer: MoveObserver) -> None:
    """Tell ``observer`` of every move from now on (registering a name again
    replaces its observer: the app's ready() may run twice in tests)."""
    _move_observers[name] = observer


def order_run_context_register(name: str, provider: RunContextProvider) -> None:
    _run_context_providers[name] = provider


def order_admission_register(name: str, check: AdmissionCheck) -> None:
    _admission_checks[name] = check


def order_admitted(placement: Placement) -> Admission:
    """Every registered check's verdict on ``placement``, together: the
    first business unit one names, and each reason for approval. A check
    that refuses raises (an ``OrderError``), and nothing is placed."""
    business_unit_id: int | None = None
    reasons: list[str] = []
    for check in list(_admission_checks.values()):
        admission = check(placement)
        if business_unit_id is None:
            business_unit_id = admission.business_unit_id
        if admission.approval_reason:
            reasons.append(admission.approval_reason)
    return Admission(business_unit_id=business_unit_id, approval_reason=" ".join(reasons))


def order_moved(move: OrderMove) -> None:
    for observer in list(_move_observers.values()):
        observer(move)


def order_run_context(order: Order) -> RunContext:
    """Everything the registered providers add to the order's run."""
    variables: dict[str, Any] = {}
    secrets: list[str] = []
    for provider in list(_run_context_providers.values()):
        context = provider(order)
        variables.update(context.variables)
        secrets.extend(context.secrets)
    if order.operation_id is not None and "squadron_instance" not in variables:
        # Fail closed: an operation must not run without the instance it is for.
        raise RuntimeError(f"order {order.pk} is against an instance, but no domain provides it")
    return RunContext(variables=variables, secrets=secrets)
