"""The conversation on an order: comments between the requester and the
squad, questions the squad asks the requester, and work notes the squad
keeps to itself.

A work note never reaches the requester: not on the page, not in the API,
not in a notification or an email (only squad members are told of one), and
it records no order event (the timeline is the requester's too) and fires no
webhook. A question is a comment that makes the order wait on the requester
(``Order.waiting_on_requester_since``): the order keeps its status, its
timeline says who asked, and the requester's reply clears it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from portal.notifications.choices import NotificationKind
from portal.notifications.services import notify
from portal.orders import approval_steps, permissions
from portal.orders.choices import TERMINAL_STATUSES, OrderStatus
from portal.orders.errors import OrderError, OrderNotAllowed
from portal.orders.models import Order, OrderComment
from portal.orders.transitions import order_locked, order_note
from squads.selectors import AnyUser, display_name

#: The longest message: a conversation, not a document.
MAX_BODY = 10_000
Kind = OrderComment.Kind


def squad_side(user: AnyUser, order: Order) -> bool:
    """Whether ``user`` talks for the squad on ``order``: a member of the
    owning squad (or a superuser) who is not its requester. A squad member
    who ordered from their own squad is its requester here: they see what a
    requester sees, no work notes."""
    return permissions.is_owner_side(user, order) and order.requester_id != user.pk


def may_ask(user: AnyUser, order: Order) -> bool:
    """Whether ``user`` may ask the requester for information now."""
    return squad_side(user, order) and order.status not in TERMINAL_STATUSES


def order_comment_post(*, order: Order, author: User, body: str, kind: str = Kind.COMMENT) -> OrderComment:
    """Add ``author``'s message of ``kind`` to the conversation on ``order``
    and tell the other side (their notification preferences decide whether
    by email too). Refused, nothing written: an empty or overlong body, a
    work note or question by someone who does not talk for the squad, a
    question on a finished order."""
    body = (body or "").strip()
    if not body:
        raise OrderError("Write something first.")
    if len(body) > MAX_BODY:
        raise OrderError(f"A message is at most {MAX_BODY:,} characters; this one has {len(body):,}.")
    if kind not in Kind.values:
        raise OrderError("Choose a comment, a question for the requester or a work note.")
    if not permissions.can_view(author, order) and not _approver(author, order):
        raise OrderNotAllowed("You cannot take part in this order's conversation.")
    if kind != Kind.COMMENT and not squad_side(author, order):
        raise OrderNotAllowed("Only the squad fulfilling the order asks questions and keeps work notes.")
    with transaction.atomic():
        locked = order_locked(order)
        if kind == Kind.QUESTION and locked.status in TERMINAL_STATUSES:
            raise OrderError(f"Order #{locked.pk} is finished: there is nothing left to ask the requester.")
        comment = OrderComment.objects.create(order=locked, author=author, kind=kind, body=body)
        now = timezone.now()
        if kind == Kind.QUESTION:
            Order.objects.filter(pk=locked.pk).update(waiting_on_requester_since=now, updated_at=now)
            order_note(locked, actor=author, note=f"Asked {display_name(locked.requester)} for information")
        elif author.pk == locked.requester_id and locked.waiting_on_requester_since is not None:
            Order.objects.filter(pk=locked.pk).update(waiting_on_requester_since=None, updated_at=now)
            order_note(locked, actor=author, note="Replied: the order no longer waits on the requester")
        _tell_the_other_side(locked, comment)
    order.refresh_from_db()
    return comment


def _approver(user: AnyUser, order: Order) -> bool:
    """An approver from outside the owning squad talks with the requester
    while the step they decide is open."""
    return order.status == OrderStatus.PENDING_APPROVAL and approval_steps.can_decide(user, order)


def _tell_the_other_side(order: Order, comment: OrderComment) -> None:
    author = comment.author
    assert author is not None  # just written by them
    what = {
        Kind.COMMENT: "commented on",
        Kind.QUESTION: "asks you about",
        Kind.WORK_NOTE: "left a work note on",
    }[Kind(comment.kind)]
    title = f"{display_name(author)} {what} order #{order.pk} ({order.product.name})"
    if comment.kind == Kind.WORK_NOTE:
        notify(
            recipients=_squad_people(order, exclude_requester=True, readers_of_work_notes=True),
            kind=NotificationKind.WORK_NOTE,
            title=title,
            body=comment.body,
            order=order,
            exclude=author,
        )
    elif author.pk == order.requester_id:
        notify(
            recipients=_squad_people(order, exclude_requester=True),
            kind=NotificationKind.ORDER_COMMENT,
            title=title,
            body=comment.body,
            order=order,
            exclude=author,
        )
    else:
        notify(
            recipients=[order.requester],
            kind=NotificationKind.ORDER_COMMENT,
            title=title,
            body=comment.body,
            order=order,
            exclude=author,
        )


def _squad_people(
    order: Order, *, exclude_requester: bool, readers_of_work_notes: bool = False
) -> Iterable[User]:
    """Who on the squad's side hears of a message: whoever claimed the
    order, squad members already in its conversation and the approvers of
    its open step; nobody yet, every member of the owning squad. Of a work
    note, only those who may read it on the page: never an approver from
    another squad."""
    people: dict[int, User] = {}
    if order.claimed_by is not None:
        people[order.claimed_by.pk] = order.claimed_by
    # Each person once, however many messages they wrote: this runs under
    # the order's lock, and a long conversation has few voices.
    talking = User.objects.filter(pk__in=OrderComment.objects.filter(order=order).values("author"))
    for person in talking.order_by("pk"):
        if squad_side(person, order) or _approver(person, order):
            people.setdefault(person.pk, person)
    if order.status == OrderStatus.PENDING_APPROVAL:
        for approver in approval_steps.approvers_of_step(order):
            people.setdefault(approver.pk, approver)
    if readers_of_work_notes:
        people = {pk: person for pk, person in people.items() if squad_side(person, order)}
    if not people:
        people = {user.pk: user for user in order.squad.members.all()}
    if exclude_requester:
        people.pop(order.requester_id, None)
    return people.values()


def order_comments_for(user: AnyUser, order: Order) -> QuerySet[OrderComment]:
    """The conversation on ``order`` as ``user`` may read it, oldest first:
    work notes only for who talks for the squad (page and API alike)."""
    comments = OrderComment.objects.filter(order_id=order.pk).select_related("author")
    if not squad_side(user, order):
        comments = comments.exclude(kind=Kind.WORK_NOTE)
    return comments.order_by("created_at", "id")
