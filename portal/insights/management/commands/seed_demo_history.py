"""Give the demo catalogue a plausible past, so the dashboards are not empty
after ``make run`` (development only).

Writes orders of the last weeks straight to the database, as if they had
happened: submissions, approvals, runs (a few failing, one runbook printing
an Ansible deprecation warning), manual claims and completions, with their
audit trail, plus two debt register items. Nothing runs. It refuses to run
with DEBUG off and does nothing when the demo already has a history.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
from catalogue.inputs import MASK, split_secrets, validate_inputs
from catalogue.models import Product
from portal.consumption.models import BusinessUnitMembership
from portal.insights.choices import DebtSeverity
from portal.insights.models import DebtItem
from portal.instances.choices import InstanceState
from portal.instances.models import InstanceEvent, ServiceInstance
from portal.orders.choices import OrderStatus
from portal.orders.models import Order, OrderApproval, OrderEvent, OrderRun
from runbooks import yamlsafe
from runbooks.choices import RunStatus
from runbooks.models import Run, RunEvent
from runbooks.services import WORKER_LOST
from squads.models import Membership

#: Orders per week and product (mean) and how often each fails.
WEEKLY = {"vm": 14, "ip-block": 9, "vlan": 6, "dns-record": 12, "k8s-namespace": 8, "firewall-rule": 7}
FAILURE_RATE = {"create-vlan": 0.3, "provision-vm": 0.08}
DEPRECATED_RUNBOOK = "create-vlan"
DEPRECATION = (
    "[DEPRECATION WARNING]: The 'ansible.builtin.copy' option 'content' with a trailing newline "
    "is deprecated. This feature will be removed from ansible-core in version 2.20."
)
#: Why a run of each runbook failed (the task's message); other runbooks
#: fail rarely, with the generic reasons.
FAILURES = {
    "create-vlan": [
        "VLAN {vlan_id} already exists at {site} under another name; pick another ID.",
        "The gateway {gateway} is not inside a free /{prefix_length} at {site}.",
    ],
    "provision-vm": [
        "No hypervisor at the site has {cpu} vCPU and {memory_gb} GB free; try a smaller size.",
        "The image for {os} is being refreshed; order again in an hour.",
    ],
}
GENERIC_FAILURES = ["The inventory service did not answer within 30 seconds.", WORKER_LOST]
TEAMS = ["finance", "payroll", "crm", "webshop", "reporting", "hr", "logistics", "search"]


def sample_inputs(slug: str, rnd: random.Random) -> dict[str, Any]:
    """What a requester might have typed into the product's form (defaults
    fill the rest); validated against the form like a real order."""
    team = rnd.choice(TEAMS)
    number = rnd.randint(2, 240)
    samples: dict[str, dict[str, Any]] = {
        "ip-block": {
            "network": f"10.{number}.{rnd.randint(0, 255)}.0",
            "prefix_length": rnd.choice([24, 26, 27]),
            "site": rnd.choice(["par1", "ams1", "lon1"]),
            "purpose": f"{team.title()} application servers",
        },
        "vlan": {
            "vlan_id": 100 + number,
            "vlan_name": f"{team.upper()}_USERS",
            "site": rnd.choice(["par1", "ams1", "lon1"]),
            "gateway": f"10.20.{number}.1",
        },
        "dns-record": {"record_name": f"{team}-{number}", "address": f"10.40.{number}.{rnd.randint(2, 250)}"},
        "database-alias": {
            "record_name": f"{team}-db-{number}",
            "address": f"10.50.{number}.{rnd.randint(2, 250)}",
        },
        "firewall-rule": {
            "source_zone": "office",
            "destination_zone": "datacenter",
            "source": f"10.20.{number}.10",
            "destination": f"10.60.{rnd.randint(1, 250)}.5",
            "ports": rnd.choice(["443", "5432", "8080-8089", "22,443"]),
            "justification": f"The {team} application reads from its database.",
        },
        "vm": {
            "hostname": f"{team}-app-{number:02d}",
            "os": rnd.choice(["ubuntu-24.04", "debian-12", "rhel-9"]),
            "cpu": rnd.choice([2, 4, 8]),
            "memory_gb": rnd.choice([4, 8, 16]),
            "owner_email": f"{team}-team@example.com",
        },
        "file-restore": {
            "hostname": f"{team}-app-{number:02d}.corp.example.com",
            "paths": "/srv/data/exports",
            "restore_date": "2026-10-01",
        },
        "tls-certificate": {"common_name": f"{team}.corp.example.com"},
        "service-account": {
            "account_name": f"svc-{team}-sync",
            "owner_email": f"{team}-team@example.com",
            "scopes": ["orders:read", "reports:read"],
            "api_secret": "demo-secret-not-kept",
        },
        "privileged-access": {
            "system": f"{team}-db-01.corp.example.com",
            "reason": "Apply the vendor's hot fix",
            "ticket": f"CHG{rnd.randint(1000, 999999):06d}",
        },
        "postgres-database": {"database_name": f"{team}_{number}", "size": rnd.choice(["small", "medium"])},
        "k8s-namespace": {"namespace_name": f"{team}-{number}", "team_email": f"{team}-team@example.com"},
    }
    return samples.get(slug, {})


class LogLine(NamedTuple):
    event: str
    task: str
    stdout: str
    failed: bool = False


def play_log(playbook: str, *, failure: str | None, deprecated: bool) -> list[LogLine]:
    """The output of a run of ``playbook`` as Ansible prints it, event by
    event: each named task ok or changed, and with a ``failure`` the run stops
    at a task with that message."""
    try:
        document = yamlsafe.load(playbook)
        plays = [play for play in document if isinstance(play, dict)] if isinstance(document, list) else []
    except yaml.YAMLError:
        plays = []
    events: list[LogLine] = []
    ok = changed = 0
    failed_at = None
    names = [
        task.get("name", "")
        for play in plays
        for task in play.get("tasks") or []
        if isinstance(task, dict) and task.get("name")
    ]
    if failure and names:
        failed_at = names[max(0, len(names) - 3)]
    for play in plays:
        events.append(LogLine("playbook_on_play_start", "", f"PLAY [{play.get('name', '')}] ".ljust(79, "*")))
        for task in play.get("tasks") or []:
            if not isinstance(task, dict) or not task.get("name"):
                continue
            name = task["name"]
            events.append(LogLine("playbook_on_task_start", name, f"TASK [{name}] ".ljust(79, "*")))
            if name == failed_at:
                message = "fatal: [localhost]: FAILED! => " + json.dumps({"changed": False, "msg": failure})
                events.append(LogLine("runner_on_failed", name, message, failed=True))
                break
            if deprecated and not ok:
                events.append(LogLine("warning", name, DEPRECATION))
            writes = any(key.endswith(("copy", "file", "template")) for key in task)
            events.append(LogLine("runner_on_ok", name, f"{'changed' if writes else 'ok'}: [localhost]"))
            ok += 1
            changed += writes
        if failed_at:
            break
    recap = (
        f"localhost                  : ok={ok}    changed={changed}    unreachable=0    "
        f"failed={1 if failed_at else 0}    skipped=0    rescued=0    ignored=0"
    )
    events.append(LogLine("playbook_on_stats", "", "PLAY RECAP ".ljust(79, "*") + "\n" + recap))
    return events


class Command(BaseCommand):
    help = "Create a plausible order history for the demo catalogue (DEBUG only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--weeks", type=int, default=12, help="How far back the history goes.")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (same seed, same history).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo_history invents orders; it refuses to run with DEBUG off.")
        if Order.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).exists():
            self.stdout.write("The demo already has an order history: nothing to do.")
            return
        products = list(
            Product.objects.filter(status=ProductStatus.PUBLISHED).select_related(
                "squad", "runbook__current_version"
            )
        )
        if not products:
            raise CommandError("No published products: load the demo catalogue first (manage.py load_demo).")
        users = get_user_model()
        # Ben carries the history; Bea starts with a clean slate for the
        # README's tour ("My orders" lists what she orders herself).
        requesters = list(users.objects.filter(username="ben")) or list(users.objects.all()[:2])
        if not requesters:
            raise CommandError("No users to order with: load the demo catalogue first (manage.py load_demo).")
        members: dict[int, list[Any]] = {}
        for membership in Membership.objects.select_related("user"):
            members.setdefault(membership.squad_id, []).append(membership.user)
        randomness = random.Random(options["seed"])  # noqa: S311 - demo data, not secrets
        with transaction.atomic():
            created = self._history(products, requesters, members, randomness, options["weeks"])
            self._register(products)
            self._instances(randomness)
        self.stdout.write(
            self.style.SUCCESS(f"Created {created} orders over the last {options['weeks']} weeks.")
        )

    def _history(
        self,
        products: list[Product],
        requesters: list[Any],
        members: dict[int, list[Any]],
        rnd: random.Random,
        weeks: int,
    ) -> int:
        now = timezone.now()
        orders = []
        for product in products:
            per_week = WEEKLY.get(product.slug, 3)
            total = max(1, round(per_week * weeks * rnd.uniform(0.8, 1.2)))
            for _ in range(total):
                # Busier lately: the catalogue is catching on.
                age = timedelta(days=weeks * 7 * (rnd.random() ** 1.3), minutes=rnd.randint(0, 600))
                if age > timedelta(hours=2):
                    orders.append((now - age, product))
        # In the order they were placed, so order numbers grow with time as
        # they would have.
        orders.sort(key=lambda placed: (placed[0], placed[1].pk))
        for submitted, product in orders:
            squad_members = members.get(product.squad_id, [])
            self._order(product, rnd.choice(requesters), squad_members, submitted, now, rnd)
        return len(orders)

    def _order(
        self,
        product: Product,
        requester: Any,
        squad_members: list[Any],
        submitted: Any,
        now: Any,
        rnd: random.Random,
    ) -> None:
        schema = product.form_schema or {"type": "object", "properties": {}}
        inputs, errors = validate_inputs(schema, sample_inputs(product.slug, rnd))
        if errors:
            raise CommandError(f"The demo inputs for {product.slug} do not fit its form: {errors}")
        inputs, _ = split_secrets(schema, inputs)  # as stored once an order is over
        story = _Story(submitted=submitted, requester=requester)
        approver = rnd.choice(squad_members) if squad_members else None
        if product.approval_policy != ApprovalPolicy.NONE:
            story.approve(approver, minutes=rnd.lognormvariate(4.0, 1.0))
        runbook = product.runbook if product.fulfilment == Fulfilment.AUTOMATED else None
        if runbook is not None:
            story.run(runbook, inputs, rnd)
        else:
            worker = rnd.choice(squad_members) if squad_members else None
            story.fulfil_by_hand(worker, now, rnd)
        order = self._store(product, requester, inputs, story, runbook)
        if story.approved and approver is not None and approver != requester:
            decision = OrderApproval.objects.create(
                order=order, step=0, approver=approver, decision="approved"
            )
            OrderApproval.objects.filter(pk=decision.pk).update(created_at=story.fields["approved_at"])
        if runbook is not None and runbook.current_version is not None:
            _store_run(order, runbook, story)

    def _unit_of(self, requester: Any) -> int | None:
        """The business unit an order of the history is for: the
        requester's, taking turns when the demo catalogue makes them a
        member of several (the cost page shows each unit's share)."""
        units = getattr(self, "_units", None)
        if units is None:
            units = {}
            for user_id, unit_id in BusinessUnitMembership.objects.order_by(
                "business_unit__name"
            ).values_list("user_id", "business_unit_id"):
                units.setdefault(user_id, []).append(unit_id)
            self._units = units
            self._turns: dict[int, int] = {}
        mine = units.get(requester.pk)
        if not mine:
            return None
        turn = self._turns.get(requester.pk, 0)
        self._turns[requester.pk] = turn + 1
        return mine[turn % len(mine)]

    def _store(
        self, product: Product, requester: Any, inputs: dict[str, Any], story: _Story, runbook: Any
    ) -> Order:
        order = Order.objects.create(
            business_unit_id=self._unit_of(requester),
            requester=requester,
            product=product,
            product_version=product.version,
            runbook_version=runbook.current_version if runbook else None,
            squad_id=product.squad_id,
            fulfilment=product.fulfilment,
            approval_policy=product.approval_policy,
            form_schema=product.form_schema,
            inputs=inputs,
            status=story.status,
            **story.fields,
        )
        Order.objects.filter(pk=order.pk).update(created_at=story.submitted, updated_at=story.events[-1][0])
        for when, from_status, to_status, note, actor in story.events:
            event = OrderEvent.objects.create(
                order=order, actor=actor, from_status=from_status, to_status=to_status, note=note
            )
            OrderEvent.objects.filter(pk=event.pk).update(created_at=when)
        return order

    def _instances(self, rnd: random.Random) -> None:
        """The services the succeeded orders of instance products made. The
        latest three of each are active, one of them expiring in a few days
        (My services and the expiry reminders have something to show); the
        older ones were given up some days after they were made, except one
        virtual machine nobody has touched for over a month (the cost
        page's spend over the weeks, and an idle instance)."""
        now = timezone.now()
        expiring_soon, idle_kept = True, False
        for product in Product.objects.filter(instance=True).order_by("slug"):
            succeeded = Order.objects.filter(
                product=product, status=OrderStatus.SUCCEEDED, instance__isnull=True
            ).select_related("requester")
            lifetime = timedelta(days=product.max_lifetime_days) if product.max_lifetime_days else None
            for index, order in enumerate(succeeded.order_by("-finished_at")):
                made = order.finished_at or order.created_at
                expires = made + lifetime if lifetime else None
                ended = None
                if index < 3:
                    if expiring_soon and expires is not None:
                        expires, expiring_soon = now + timedelta(days=3), False
                elif (
                    not idle_kept
                    and product.slug == "vm"
                    and now - timedelta(days=60) < made < now - timedelta(days=35)
                ):
                    idle_kept = True
                else:
                    ended = min(made + timedelta(days=rnd.randint(3, 30)), now - timedelta(hours=1))
                self._instance(product, order, made, expires, ended)

    def _instance(self, product: Product, order: Order, made: Any, expires: Any, ended: Any) -> None:
        attributes = {key: value for key, value in order.inputs.items() if value != MASK}
        instance = ServiceInstance.objects.create(
            product=product,
            owner=order.requester,
            business_unit_id=order.business_unit_id,
            name=str(next(iter(order.inputs.values()), f"{product.name} #{order.pk}")),
            state=InstanceState.DECOMMISSIONED if ended else InstanceState.ACTIVE,
            created_by_order=order,
            attributes=attributes,
            expires_at=None if ended else expires,
            created_at=made,
            decommissioned_at=ended,
        )
        Order.objects.filter(pk=order.pk).update(instance=instance)
        InstanceEvent.objects.create(
            instance=instance,
            order=order,
            from_state=InstanceState.PROVISIONING,
            to_state=InstanceState.ACTIVE,
            message=f"Created by order #{order.pk}",
            created_at=made,
        )
        if ended:
            InstanceEvent.objects.create(
                instance=instance,
                from_state=InstanceState.ACTIVE,
                to_state=InstanceState.DECOMMISSIONED,
                message="Decommissioned",
                created_at=ended,
            )

    def _register(self, products: list[Product]) -> None:
        by_slug = {product.slug: product for product in products}
        items = [
            (
                "firewall-rule",
                "Rules are kept in a spreadsheet, not in the firewall manager",
                DebtSeverity.HIGH,
                "8",
            ),
            (
                "vlan",
                "Site inventory hard-coded in the playbook instead of read from the CMDB",
                DebtSeverity.MEDIUM,
                "3",
            ),
        ]
        for slug, title, severity, effort in items:
            product = by_slug.get(slug)
            if product is not None and not DebtItem.objects.filter(product=product, title=title).exists():
                DebtItem.objects.create(
                    squad=product.squad,
                    product=product,
                    title=title,
                    severity=severity,
                    estimated_effort_days=Decimal(effort),
                )


@dataclass
class _Story:
    """What happened to one demo order: its events (when, from, to, note,
    actor), its status and the order's fields that record it."""

    submitted: Any
    requester: Any
    events: list[tuple[Any, str, str, str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    status: str = ""
    approved: bool = False
    approver: Any = None

    def __post_init__(self) -> None:
        self.moment = self.submitted

    def _entered(self, status: str) -> None:
        """The order entered ``status``: at submission, or once approved."""
        if self.approved:
            self.events.append((self.moment, OrderStatus.PENDING_APPROVAL, status, "Approved", self.approver))
        first = OrderStatus.PENDING_APPROVAL if self.approved else status
        self.events.insert(0, (self.submitted, "", first, "Submitted", self.requester))

    def approve(self, approver: Any, *, minutes: float) -> None:
        self.approved, self.approver = True, approver
        self.moment += timedelta(minutes=minutes)
        self.fields["approved_at"] = self.moment

    def run(self, runbook: Any, inputs: dict[str, Any], rnd: random.Random) -> None:
        self._entered(OrderStatus.QUEUED)
        self.fields["queued_at"] = self.moment
        started = self.moment + timedelta(seconds=rnd.uniform(1, 20))
        finished = started + timedelta(seconds=rnd.lognormvariate(3.5, 0.6))
        failed = rnd.random() < FAILURE_RATE.get(runbook.slug, 0.04)
        self.status = OrderStatus.FAILED if failed else OrderStatus.SUCCEEDED
        self.fields.update(
            started_at=started, finished_at=finished, attempts=1, return_code=2 if failed else 0
        )
        if failed:
            self.fields["failure_reason"] = rnd.choice(FAILURES.get(runbook.slug, GENERIC_FAILURES)).format(
                **inputs
            )
        self.events.append((started, OrderStatus.QUEUED, OrderStatus.RUNNING, "Run started", None))
        note = f"Run failed: {self.fields['failure_reason']}" if failed else "Run succeeded"
        self.events.append((finished, OrderStatus.RUNNING, self.status, note, None))

    def fulfil_by_hand(self, worker: Any, now: Any, rnd: random.Random) -> None:
        self._entered(OrderStatus.AWAITING_FULFILMENT)
        claimed = self.moment + timedelta(minutes=rnd.lognormvariate(4.5, 0.8))
        finished = claimed + timedelta(minutes=rnd.lognormvariate(3.8, 0.6))
        if finished > now:
            # Still in the queue: the recent part of the backlog.
            self.status = OrderStatus.AWAITING_FULFILMENT
            self.fields.update(
                claimed_by=worker if claimed < now else None, claimed_at=claimed if claimed < now else None
            )
            return
        self.status = OrderStatus.SUCCEEDED if rnd.random() > 0.05 else OrderStatus.FAILED
        self.fields.update(claimed_by=worker, claimed_at=claimed, finished_at=finished)
        if self.status == OrderStatus.FAILED:
            self.fields["failure_reason"] = "Source and destination are in the same zone: no rule needed."
        self.events.append(
            (finished, OrderStatus.AWAITING_FULFILMENT, self.status, "Fulfilled by hand", worker)
        )


def _store_run(order: Order, runbook: Any, story: _Story) -> None:
    """The run of an automated demo order, with a playbook log that fits its outcome."""
    fields = story.fields
    reason = fields.get("failure_reason", "")
    lost = reason == WORKER_LOST
    log = (
        []
        if lost
        else play_log(
            runbook.current_version.content,
            failure=reason or None,
            deprecated=runbook.slug == DEPRECATED_RUNBOOK,
        )
    )
    stats = {
        "localhost": {
            "ok": sum(line.event == "runner_on_ok" for line in log),
            "changed": sum(line.stdout.startswith("changed") for line in log),
            "failures": sum(line.failed for line in log),
            "dark": 0,
            "skipped": 0,
            "rescued": 0,
            "ignored": 0,
        }
    }
    succeeded = story.status == OrderStatus.SUCCEEDED
    run = Run.objects.create(
        runbook_version=runbook.current_version,
        status=RunStatus.SUCCEEDED if succeeded else RunStatus.LOST if lost else RunStatus.FAILED,
        started_at=fields["started_at"],
        finished_at=fields["finished_at"],
        rc=None if lost else fields["return_code"],
        stats=stats if log else {},
        failure_reason=reason[:1000],
        event_count=len(log),
    )
    Run.objects.filter(pk=run.pk).update(created_at=fields["started_at"])
    OrderRun.objects.create(order=order, run=run, attempt=1)
    Order.objects.filter(pk=order.pk).update(current_run=run, host_summary=run.stats)
    span = fields["finished_at"] - fields["started_at"]
    RunEvent.objects.bulk_create(
        RunEvent(
            run=run,
            counter=counter,
            event=line.event,
            task=line.task,
            host="localhost" if line.event.startswith("runner_on") else "",
            stdout=line.stdout,
            failed=line.failed,
            created_at=fields["started_at"] + span * counter / (len(log) + 1),
        )
        for counter, line in enumerate(log, start=1)
    )
