"""What every page's navigation shows: unread notifications and the squad
member's waiting work, computed only when a template asks."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from django.http import HttpRequest

from portal.audit.selectors import can_read_audit
from portal.notifications.selectors import unread_count
from portal.orders.selectors import orders_awaiting_approval_by, orders_in_manual_queue_of
from squads.selectors import AnyUser, is_any_squad_member


class SquadWork:
    """The counts beside the squad pages' links, queried only if the page
    shows them (an HTMX fragment has no navigation and pays nothing)."""

    def __init__(self, user: AnyUser) -> None:
        self.user = user

    @cached_property
    def approvals(self) -> int:
        return orders_awaiting_approval_by(self.user).count()

    @cached_property
    def queue(self) -> int:
        return orders_in_manual_queue_of(self.user).count()


def navigation(request: HttpRequest) -> dict:
    user: AnyUser | None = getattr(request, "user", None)
    is_member = bool(user and is_any_squad_member(user))
    works_for_squads = bool(user and user.is_authenticated and (is_member or user.is_superuser))
    squad_work = SquadWork(user) if user is not None and works_for_squads else None
    unread = _Lazy(lambda: unread_count(user) if user is not None else 0)

    def waiting() -> int:
        """All that waits for the user: the folded menu's button shows it."""
        work = squad_work.approvals + squad_work.queue if squad_work is not None else 0
        return work + unread()

    return {
        "is_squad_member": is_member,
        "works_for_squads": works_for_squads,
        "squad_work": squad_work,
        # Lazy: pages that never show the count never pay its query.
        "unread_notifications": unread,
        "waiting_for_you": waiting,
        # Platform leads are squad members: nobody else pays a query for the link.
        "reads_audit": (lambda: can_read_audit(user)) if user is not None and works_for_squads else False,
    }


class _Lazy:
    """A count computed on its first use only, however often a page shows it."""

    def __init__(self, compute: Callable[[], int]) -> None:
        self.compute = compute
        self.value: int | None = None

    def __call__(self) -> int:
        if self.value is None:
            self.value = self.compute()
        return self.value
