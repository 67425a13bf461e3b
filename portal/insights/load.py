"""Load on squads and their members: what waits for them now, what they got
through in a period, and whether a queue grows faster than it is worked.

Each squad's load also counts the service instances it keeps running
(every instance of its products not decommissioned), in all and per member:
a squad of three keeping 400 databases alive carries more than its queues
show.

Arrivals and departures are read from the orders' audit trail
(``OrderEvent``): an order *arrives* in a queue when an event moves it into
``awaiting_fulfilment`` (or ``pending_approval``) and *leaves* when one moves
it out (fulfilled, failed, approved, rejected, cancelled), whoever did it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Min, Q
from django.utils import timezone

from catalogue.choices import Fulfilment
from portal.insights.periods import Period
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.orders.approval_steps import steps_naming
from portal.orders.choices import OrderStatus
from portal.orders.models import Order, OrderApproval, OrderEvent
from squads.models import Chapter, Membership, Squad

#: A queue "grows faster than it is worked" when, over this many days up to
#: now, more orders came into it than left it and some are still waiting.
FLOW_DAYS = 14

AWAITING = OrderStatus.AWAITING_FULFILMENT
PENDING = OrderStatus.PENDING_APPROVAL


@dataclass
class QueueFlow:
    """Orders in and out of one of a squad's queues over the last days."""

    queue: str
    label: str
    open_now: int
    arrived: int
    left: int
    days: int = FLOW_DAYS

    @property
    def growing(self) -> bool:
        return self.arrived > self.left and self.open_now > 0

    @property
    def warning(self) -> str:
        if not self.growing:
            return ""
        verb = "is" if self.open_now == 1 else "are"
        return (
            f"The {self.label.lower()} grows faster than it is worked: {self.arrived} orders came in "
            f"over the last {self.days} days and {self.left} left it; {self.open_now} {verb} waiting now."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "open_now": self.open_now,
            "arrived": self.arrived,
            "left": self.left,
            "days": self.days,
            "growing": self.growing,
            "warning": self.warning,
        }


@dataclass
class MemberLoad:
    """One member's share of the squad's work."""

    user: Any
    role: str
    role_label: str
    claimed_open: int = 0
    approvals_waiting: int = 0
    fulfilled: int = 0
    failed_by_hand: int = 0
    approvals_decided: int = 0

    @property
    def throughput(self) -> int:
        """Orders this member moved on in the period: fulfilled or failed by
        hand, and approval decisions."""
        return self.fulfilled + self.failed_by_hand + self.approvals_decided

    def as_dict(self) -> dict[str, Any]:
        return {
            "username": self.user.get_username(),
            "role": self.role,
            "claimed_open": self.claimed_open,
            "approvals_waiting": self.approvals_waiting,
            "fulfilled": self.fulfilled,
            "failed_by_hand": self.failed_by_hand,
            "approvals_decided": self.approvals_decided,
            "throughput": self.throughput,
        }


@dataclass
class SquadLoad:
    squad: Squad
    approvals_open: int = 0
    manual_open: int = 0
    manual_unclaimed: int = 0
    manual_oldest: datetime | None = None
    approval_oldest: datetime | None = None
    flows: list[QueueFlow] = field(default_factory=list)
    members: list[MemberLoad] = field(default_factory=list)
    instances_running: int = 0
    member_count: int = 0

    @property
    def warnings(self) -> list[str]:
        return [flow.warning for flow in self.flows if flow.growing]

    @property
    def instances_per_member(self) -> float | None:
        """Instances kept running per member (``None`` for a squad with no members)."""
        return self.instances_running / self.member_count if self.member_count else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "approvals_open": self.approvals_open,
            "manual_open": self.manual_open,
            "manual_unclaimed": self.manual_unclaimed,
            "manual_oldest_waiting_since": self.manual_oldest.isoformat() if self.manual_oldest else None,
            "approval_oldest_waiting_since": self.approval_oldest.isoformat()
            if self.approval_oldest
            else None,
            "flows": {flow.queue: flow.as_dict() for flow in self.flows},
            "warnings": self.warnings,
            "instances_running": self.instances_running,
            "instances_per_member": self.instances_per_member,
            "members": [member.as_dict() for member in self.members],
        }


_OPEN_COUNTS = {
    "approvals_open": Count("pk", filter=Q(status=PENDING)),
    "manual_open": Count("pk", filter=Q(status=AWAITING)),
    "manual_unclaimed": Count("pk", filter=Q(status=AWAITING, claimed_by__isnull=True)),
    "manual_oldest": Min("created_at", filter=Q(status=AWAITING)),
    "approval_oldest": Min("created_at", filter=Q(status=PENDING)),
}


def _flow_counts() -> dict[str, Any]:
    return {
        "manual_in": Count("pk", filter=Q(to_status=AWAITING) & ~Q(from_status=AWAITING)),
        "manual_out": Count("pk", filter=Q(from_status=AWAITING) & ~Q(to_status=AWAITING)),
        "approval_in": Count("pk", filter=Q(to_status=PENDING) & ~Q(from_status=PENDING)),
        "approval_out": Count("pk", filter=Q(from_status=PENDING) & ~Q(to_status=PENDING)),
    }


def _flows(row: dict[str, Any], flow: dict[str, Any]) -> list[QueueFlow]:
    return [
        QueueFlow(
            queue="manual",
            label="Manual queue",
            open_now=row.get("manual_open", 0),
            arrived=flow.get("manual_in", 0),
            left=flow.get("manual_out", 0),
        ),
        QueueFlow(
            queue="approvals",
            label="Approval queue",
            open_now=row.get("approvals_open", 0),
            arrived=flow.get("approval_in", 0),
            left=flow.get("approval_out", 0),
        ),
    ]


def _events_since(now: datetime) -> Any:
    return OrderEvent.objects.filter(created_at__gte=now - timedelta(days=FLOW_DAYS), created_at__lt=now)


def _running() -> Any:
    return ServiceInstance.objects.exclude(state=InstanceState.DECOMMISSIONED).order_by()


def squads_load(*, now: datetime | None = None) -> list[SquadLoad]:
    """Every squad's open work, queue flows, instances running and members,
    in five queries."""
    now = now or timezone.now()
    open_rows = {
        row["squad_id"]: row
        for row in Order.objects.filter(status__in=[PENDING, AWAITING])
        .order_by()
        .values("squad_id")
        .annotate(**_OPEN_COUNTS)
    }
    flow_rows = {
        row["order__squad_id"]: row
        for row in _events_since(now).order_by().values("order__squad_id").annotate(**_flow_counts())
    }
    running = dict(_running().values_list("product__squad_id").annotate(count=Count("pk")))
    members = dict(Membership.objects.order_by().values_list("squad_id").annotate(count=Count("pk")))
    loads = []
    for squad in Squad.objects.order_by("name"):
        row = open_rows.get(squad.pk, {})
        loads.append(
            SquadLoad(
                squad=squad,
                approvals_open=row.get("approvals_open", 0),
                manual_open=row.get("manual_open", 0),
                manual_unclaimed=row.get("manual_unclaimed", 0),
                manual_oldest=row.get("manual_oldest"),
                approval_oldest=row.get("approval_oldest"),
                flows=_flows(row, flow_rows.get(squad.pk, {})),
                instances_running=running.get(squad.pk, 0),
                member_count=members.get(squad.pk, 0),
            )
        )
    return loads


def squad_load(squad: Squad, period: Period) -> SquadLoad:
    """The squad's open work, its queue flows up to ``period.now``, the
    instances it keeps running, and each member's load and throughput in
    the period (seven queries, whatever the number of members)."""
    row = (
        Order.objects.filter(squad=squad, status__in=[PENDING, AWAITING]).order_by().aggregate(**_OPEN_COUNTS)
    )
    flow = _events_since(period.now).filter(order__squad=squad).order_by().aggregate(**_flow_counts())
    load = SquadLoad(
        squad=squad,
        approvals_open=row["approvals_open"],
        manual_open=row["manual_open"],
        manual_unclaimed=row["manual_unclaimed"],
        manual_oldest=row["manual_oldest"],
        approval_oldest=row["approval_oldest"],
        flows=_flows(row, flow),
        instances_running=_running().filter(product__squad=squad).count(),
    )
    memberships = list(
        Membership.objects.filter(squad=squad).select_related("user").order_by("user__username")
    )
    load.member_count = len(memberships)
    members = {
        membership.user_id: MemberLoad(
            user=membership.user, role=membership.role, role_label=membership.get_role_display()
        )
        for membership in memberships
    }
    if not members:
        return load
    _count_claimed(squad, members)
    _count_approvals_waiting(squad, memberships, members)
    _count_finished_by_hand(squad, period, members)
    _count_approvals_decided(squad, period, members)
    load.members = sorted(
        members.values(),
        key=lambda member: (-(member.claimed_open + member.approvals_waiting), member.user.username),
    )
    return load


def _count_claimed(squad: Squad, members: dict[int, MemberLoad]) -> None:
    for user_id, count in (
        Order.objects.filter(squad=squad, status=AWAITING, claimed_by_id__in=list(members))
        .order_by()
        .values_list("claimed_by_id")
        .annotate(count=Count("pk"))
    ):
        members[user_id].claimed_open = count


def _count_approvals_waiting(
    squad: Squad, memberships: list[Membership], members: dict[int, MemberLoad]
) -> None:
    """What waits for each member: steps that ask this squad (by role) and
    steps that ask a chapter they lead or belong to, whichever squad owns
    the order (one query for every member)."""
    chapters_of: dict[int, set[int]] = defaultdict(set)
    for chapter_id, lead_id, member_id in Chapter.objects.filter(
        Q(lead_id__in=list(members)) | Q(members__in=list(members))
    ).values_list("pk", "lead_id", "members"):
        for user_id in (lead_id, member_id):
            if user_id in members:
                chapters_of[user_id].add(chapter_id)
    all_chapters = set().union(*chapters_of.values())
    waiting = Order.objects.filter(
        Q(approval_squad=squad) | Q(approval_chapter_id__in=all_chapters), status=PENDING
    ).order_by()
    per_member = {}
    for membership in memberships:
        may_decide = steps_naming(
            roles=[(squad.pk, membership.role)], chapters=chapters_of[membership.user_id]
        )
        decided = OrderApproval.objects.filter(approver_id=membership.user_id).values("order_id")
        per_member[f"u{membership.user_id}"] = Count(
            "pk", filter=may_decide & ~Q(requester_id=membership.user_id) & ~Q(pk__in=decided)
        )
    for key, count in waiting.aggregate(**per_member).items():
        members[int(key[1:])].approvals_waiting = count


def _count_finished_by_hand(squad: Squad, period: Period, members: dict[int, MemberLoad]) -> None:
    finished_by_hand = (
        Order.objects.filter(
            squad=squad,
            fulfilment=Fulfilment.MANUAL,
            claimed_by_id__in=list(members),
            finished_at__gte=period.since,
            finished_at__lt=period.until,
        )
        .order_by()
        .values("claimed_by_id")
        .annotate(
            fulfilled=Count("pk", filter=Q(status=OrderStatus.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=OrderStatus.FAILED)),
        )
    )
    for entry in finished_by_hand:
        members[entry["claimed_by_id"]].fulfilled = entry["fulfilled"]
        members[entry["claimed_by_id"]].failed_by_hand = entry["failed"]


def _count_approvals_decided(squad: Squad, period: Period, members: dict[int, MemberLoad]) -> None:
    for user_id, count in (
        OrderApproval.objects.filter(
            order__squad=squad,
            approver_id__in=list(members),
            created_at__gte=period.since,
            created_at__lt=period.until,
        )
        .order_by()
        .values_list("approver_id")
        .annotate(count=Count("pk"))
    ):
        members[user_id].approvals_decided = count


@dataclass
class SharedPerson:
    """Someone who sits in several squads: the people side of replication
    (and of overload)."""

    user: Any
    seats: list[tuple[Squad, str]]
    claimed_open: int


def people_in_several_squads() -> list[SharedPerson]:
    """Members of more than one squad, most seats first (four queries)."""
    users = get_user_model()
    shared_ids = list(
        Membership.objects.order_by()
        .values("user_id")
        .annotate(seats=Count("squad_id"))
        .filter(seats__gt=1)
        .values_list("user_id", flat=True)
    )
    seats: dict[int, list[tuple[Squad, str]]] = defaultdict(list)
    for membership in (
        Membership.objects.filter(user_id__in=shared_ids).select_related("squad").order_by("squad__name")
    ):
        seats[membership.user_id].append((membership.squad, membership.get_role_display()))
    people = users.objects.filter(pk__in=shared_ids)
    claimed = dict(
        Order.objects.filter(status=AWAITING, claimed_by_id__in=shared_ids)
        .order_by()
        .values_list("claimed_by_id")
        .annotate(count=Count("pk"))
    )
    result = [
        SharedPerson(user=person, seats=seats[person.pk], claimed_open=claimed.get(person.pk, 0))
        for person in people
    ]
    result.sort(key=lambda person: (-len(person.seats), person.user.get_username()))
    return result
