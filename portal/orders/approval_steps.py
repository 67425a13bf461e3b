"""Who approves an order, step by step.

A product's approval policy is turned into a list of steps when an order is
submitted (``steps_for``) and copied onto the order, so that editing the
product later never changes an order already waiting. Each step names who
may decide it (roles in a squad, or a chapter's lead and members) and how
many distinct people must approve it. The services in ``portal.orders.approvals``
move the order along; this module only answers "who may decide": one rule,
``decidable_by``, for the approvals inbox, the orders an approver sees and
whether a person may decide now.

Separation of duties holds for everyone, superusers included: nobody decides
on their own order, and a person decides at most once per order, across all
its steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from catalogue.choices import ApprovalPolicy
from catalogue.models import Operation, Product
from catalogue.selectors import approval_steps_in_order
from portal.orders.choices import OrderStatus
from portal.orders.models import Order, OrderApproval
from squads.choices import Role
from squads.models import Chapter, Squad
from squads.selectors import AnyUser, chapters_of, roles_of, step_approvers

#: Who approves under the ``squad`` policy: the owning squad's product
#: owners and subject-matter experts.
SQUAD_APPROVER_ROLES = [Role.PRODUCT_OWNER.value, Role.SME.value]


class StepSpec(TypedDict):
    """One approval step as an order keeps it (JSON)."""

    name: str
    squad_id: int | None
    squad: str | None
    chapter_id: int | None
    chapter: str | None
    roles: list[str]
    required: int


def steps_for(product: Product, operation: Operation | None = None) -> list[StepSpec]:
    """The approval steps an order for ``product`` (or for its ``operation``,
    whose own policy and steps apply then) goes through, in order."""
    policy = operation.approval_policy if operation is not None else product.approval_policy
    return steps_for_policy(product, policy, operation)


def steps_for_policy(product: Product, policy: str, operation: Operation | None = None) -> list[StepSpec]:
    """The steps of ``policy`` for an order of ``product`` (or of its
    ``operation``): also what an order over its quota goes through when its
    own policy needs no approval (``squad``)."""
    if policy == ApprovalPolicy.NONE:
        return []
    if policy == ApprovalPolicy.SQUAD:
        return [
            StepSpec(
                name=f"{product.squad.name} approval",
                squad_id=product.squad_id,
                squad=product.squad.slug,
                chapter_id=None,
                chapter=None,
                roles=list(SQUAD_APPROVER_ROLES),
                required=1,
            )
        ]
    steps: list[StepSpec] = []
    defined = (
        approval_steps_in_order().filter(operation=operation)
        if operation is not None
        else approval_steps_in_order().filter(product=product)
    )
    for step in defined:
        if step.chapter_id:
            squad_id, squad_slug = None, None
        else:
            squad = step.squad or product.squad
            squad_id, squad_slug = squad.pk, squad.slug
        steps.append(
            StepSpec(
                name=step.name,
                squad_id=squad_id,
                squad=squad_slug,
                chapter_id=step.chapter_id,
                chapter=step.chapter.slug if step.chapter else None,
                roles=list(step.roles or []) if not step.chapter_id else [],
                required=step.required_approvals,
            )
        )
    return steps


def roles_key(roles: list[str]) -> str:
    """``Order.approval_roles`` for a step: ",a,b," or "" for any role."""
    return f",{','.join(sorted(roles))}," if roles else ""


def open_step_fields(steps: list[StepSpec], index: int) -> dict[str, Any]:
    """The order's denormalised columns describing who decides step ``index``
    (cleared when there is no such step)."""
    if index >= len(steps):
        return {"approval_squad_id": None, "approval_chapter_id": None, "approval_roles": ""}
    step = steps[index]
    return {
        "approval_squad_id": step["squad_id"],
        "approval_chapter_id": step["chapter_id"],
        "approval_roles": roles_key(step["roles"]),
    }


def current_step(order: Order) -> StepSpec | None:
    steps = order.approval_steps or []
    return steps[order.approval_step] if order.approval_step < len(steps) else None


def _approvers(step: StepSpec) -> QuerySet[User]:
    return step_approvers(squad_id=step["squad_id"], roles=step["roles"], chapter_id=step["chapter_id"])


def steps_naming(*, roles: Iterable[tuple[int, str]], chapters: Any) -> Q:
    """Orders whose open step names someone with these ``(squad id, role)``
    seats, or in these chapters (ids, or a subquery of them): the one rule of
    who may decide a step, over the order's denormalised columns of that
    step (``open_step_fields``)."""
    may_decide = Q(approval_chapter_id__in=chapters)
    for squad_id, role in roles:
        may_decide |= Q(approval_squad_id=squad_id) & (
            Q(approval_roles="") | Q(approval_roles__contains=f",{role},")
        )
    return may_decide


def decidable_by(user: AnyUser) -> Q:
    """Orders whose open approval step names the user (by their role in the
    squad it asks, or their chapter): for the inbox, visibility and each
    decision."""
    return steps_naming(roles=roles_of(user), chapters=chapters_of(user).values("pk"))


def _fits_open_step(user: AnyUser, order: Order) -> bool:
    return Order.objects.filter(decidable_by(user), pk=order.pk).exists()


def refusal(user: AnyUser, order: Order) -> str | None:
    """Why ``user`` may not decide the open step of ``order``, or None if they
    may. The order must be waiting for approval (the caller checks)."""
    if not user.is_authenticated or not user.is_active:
        return "Log in to decide on orders."
    if order.requester_id == user.pk:
        return "You cannot approve or reject your own order."
    step = current_step(order)
    if step is None:
        return "This order is not waiting for an approval."
    if OrderApproval.objects.filter(order_id=order.pk, approver_id=user.pk).exists():
        return "You already decided on this order; another person must decide this step."
    if not _fits_open_step(user, order):
        return f"You are not among the approvers of the step {step['name']!r}."
    return None


def can_decide(user: AnyUser, order: Order) -> bool:
    """Whether ``user`` may approve or reject the open step of ``order`` now."""
    return order.status == OrderStatus.PENDING_APPROVAL and refusal(user, order) is None


def approvers_of_step(order: Order) -> QuerySet[User]:
    """The active people who may decide the open step (not the requester, not
    who already decided): whom to notify and remind."""
    step = current_step(order)
    if step is None:
        return get_user_model().objects.none()
    decided = OrderApproval.objects.filter(order_id=order.pk).values("approver_id")
    return _approvers(step).exclude(pk=order.requester_id).exclude(pk__in=decided)


def describe_approvers(step: StepSpec, squad_names: dict[int, str], chapter_names: dict[int, str]) -> str:
    """Who decides a step, in words to put in a sentence: "product owners and
    subject-matter experts of Network Squad" (``capfirst`` to start one)."""
    if step["chapter_id"]:
        return f"the {chapter_names.get(step['chapter_id'], step['chapter'])} chapter"
    squad = squad_names.get(step["squad_id"] or 0, step["squad"] or "")
    if not step["roles"]:
        return f"any member of {squad}"
    labels = [f"{Role(role).label.lower()}s" for role in step["roles"] if role in Role.values]
    roles = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return f"{roles} of {squad}"


def _names(steps: list[StepSpec]) -> tuple[dict[int, str], dict[int, str]]:
    """The names of the squads and chapters the steps name, by id."""
    squad_ids = {step["squad_id"] for step in steps if step["squad_id"]}
    chapter_ids = {step["chapter_id"] for step in steps if step["chapter_id"]}
    squad_names = dict(Squad.objects.filter(pk__in=squad_ids).values_list("pk", "name")) if squad_ids else {}
    chapter_names = (
        dict(Chapter.objects.filter(pk__in=chapter_ids).values_list("pk", "name")) if chapter_ids else {}
    )
    return squad_names, chapter_names


def steps_described(steps: list[StepSpec]) -> list[dict[str, Any]]:
    """Each step's name and who decides it, in words (before an order exists)."""
    squad_names, chapter_names = _names(steps)
    return [
        {"name": step["name"], "who": describe_approvers(step, squad_names, chapter_names)} for step in steps
    ]


def step_progress(order: Order) -> list[dict[str, Any]]:
    """Each step with who decides it and its decisions so far, for the order page."""
    steps = order.approval_steps or []
    squad_names, chapter_names = _names(steps)
    decisions: dict[int, list[OrderApproval]] = {}
    for approval in order.approvals.select_related("approver").order_by("created_at", "id"):
        decisions.setdefault(approval.step, []).append(approval)
    progress = []
    for index, step in enumerate(steps):
        approvals = decisions.get(index, [])
        approved = sum(1 for a in approvals if a.decision == OrderApproval.Decision.APPROVED)
        if index < order.approval_step or approved >= step["required"]:
            state = "done"
        elif index == order.approval_step and order.status == OrderStatus.PENDING_APPROVAL:
            state = "open"
        elif any(a.decision == OrderApproval.Decision.REJECTED for a in approvals):
            state = "rejected"
        elif order.status == OrderStatus.PENDING_APPROVAL:
            state = "waiting"
        else:
            state = "not_reached"  # rejected or cancelled before it opened
        progress.append(
            {
                "index": index,
                "step": step,
                "who": describe_approvers(step, squad_names, chapter_names),
                "decisions": approvals,
                "approved": approved,
                "state": state,
            }
        )
    return progress
