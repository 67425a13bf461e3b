"""Give the demo catalogue a plausible past, so the dashboards are not empty
after ``make run`` (development only).

Writes orders of the last weeks straight to the database, as if they had
happened: submissions, approvals, runs (a few failing, one runbook printing
an Ansible deprecation warning), manual claims and completions, with their
audit trail, plus two debt register items. Nothing runs. It refuses to run
with DEBUG off and does nothing when the demo already has a history.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
from catalogue.models import Product
from portal.choices import OrderStatus
from portal.insights.choices import DebtSeverity
from portal.insights.models import DebtItem
from portal.models import Order, OrderApproval, OrderEvent, OrderRun
from runbooks.choices import RunStatus
from runbooks.models import Run, RunEvent
from squads.models import Membership

#: Orders per week and product (mean) and how often each fails.
WEEKLY = {"vm": 14, "ip-block": 9, "vlan": 6, "dns-record": 12, "k8s-namespace": 8, "firewall-rule": 7}
FAILURE_RATE = {"create-vlan": 0.3, "provision-vm": 0.08}
DEPRECATED_RUNBOOK = "create-vlan"
DEPRECATION = (
    "[DEPRECATION WARNING]: The 'ansible.builtin.copy' option 'content' with a trailing newline "
    "is deprecated. This feature will be removed from ansible-core in version 2.20."
)
FAILURES = [
    "Run failed: The order's inputs are not valid for a VLAN: see the failed condition above.",
    "Run failed: VLAN 120 already exists at par1 under another name; pick another ID.",
    "worker_lost",
]


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
        count = 0
        for product in products:
            per_week = WEEKLY.get(product.slug, 3)
            total = max(1, round(per_week * weeks * rnd.uniform(0.8, 1.2)))
            for _ in range(total):
                # Busier lately: the catalogue is catching on.
                age = timedelta(days=weeks * 7 * (rnd.random() ** 1.3), minutes=rnd.randint(0, 600))
                submitted = now - age
                if submitted > now - timedelta(hours=2):
                    continue
                self._order(
                    product, rnd.choice(requesters), members.get(product.squad_id, []), submitted, now, rnd
                )
                count += 1
        return count

    def _order(
        self,
        product: Product,
        requester: Any,
        squad_members: list[Any],
        submitted: Any,
        now: Any,
        rnd: random.Random,
    ) -> None:
        automated = product.fulfilment == Fulfilment.AUTOMATED and product.runbook_id
        needs_approval = product.approval_policy != ApprovalPolicy.NONE
        events: list[tuple[Any, str, str, str, Any]] = [(submitted, "", "", "Submitted", requester)]
        fields: dict[str, Any] = {}
        moment = submitted
        approver = rnd.choice(squad_members) if squad_members else None
        if needs_approval:
            events[0] = (submitted, "", OrderStatus.PENDING_APPROVAL, "Submitted", requester)
            moment += timedelta(minutes=rnd.lognormvariate(4.0, 1.0))
            fields["approved_at"] = moment
        runbook = product.runbook
        if automated and runbook is not None:
            if not needs_approval:
                events[0] = (submitted, "", OrderStatus.QUEUED, "Submitted", requester)
            else:
                events.append(
                    (moment, OrderStatus.PENDING_APPROVAL, OrderStatus.QUEUED, "Approved", approver)
                )
            fields["queued_at"] = moment
            started = moment + timedelta(seconds=rnd.uniform(1, 20))
            finished = started + timedelta(seconds=rnd.lognormvariate(3.5, 0.6))
            failed = rnd.random() < FAILURE_RATE.get(runbook.slug, 0.04)
            status = OrderStatus.FAILED if failed else OrderStatus.SUCCEEDED
            fields.update(
                started_at=started, finished_at=finished, attempts=1, return_code=2 if failed else 0
            )
            if failed:
                fields["failure_reason"] = rnd.choice(FAILURES)
            events.append((started, OrderStatus.QUEUED, OrderStatus.RUNNING, "Run started", None))
            events.append(
                (finished, OrderStatus.RUNNING, status, fields.get("failure_reason") or "Run succeeded", None)
            )
        else:
            entered = moment
            if needs_approval:
                events.append(
                    (
                        entered,
                        OrderStatus.PENDING_APPROVAL,
                        OrderStatus.AWAITING_FULFILMENT,
                        "Approved",
                        approver,
                    )
                )
            else:
                events[0] = (submitted, "", OrderStatus.AWAITING_FULFILMENT, "Submitted", requester)
            worker = rnd.choice(squad_members) if squad_members else None
            claimed = entered + timedelta(minutes=rnd.lognormvariate(4.5, 0.8))
            finished = claimed + timedelta(minutes=rnd.lognormvariate(3.8, 0.6))
            if finished > now:
                # Still in the queue: the recent part of the backlog.
                status = OrderStatus.AWAITING_FULFILMENT
                fields.update(
                    claimed_by=worker if claimed < now else None,
                    claimed_at=claimed if claimed < now else None,
                )
            else:
                status = OrderStatus.SUCCEEDED if rnd.random() > 0.05 else OrderStatus.FAILED
                fields.update(claimed_by=worker, claimed_at=claimed, finished_at=finished)
                if status == OrderStatus.FAILED:
                    fields["failure_reason"] = "Source and destination are in the same zone: no rule needed."
                events.append(
                    (finished, OrderStatus.AWAITING_FULFILMENT, status, "Fulfilled by hand", worker)
                )
        order = Order.objects.create(
            requester=requester,
            product=product,
            product_version=product.version,
            runbook_version=runbook.current_version if automated and runbook else None,
            squad_id=product.squad_id,
            fulfilment=product.fulfilment,
            approval_policy=product.approval_policy,
            form_schema=product.form_schema,
            inputs={},
            status=status,
            **fields,
        )
        Order.objects.filter(pk=order.pk).update(created_at=submitted, updated_at=events[-1][0])
        for when, from_status, to_status, note, actor in events:
            event = OrderEvent.objects.create(
                order=order, actor=actor, from_status=from_status, to_status=to_status, note=note
            )
            OrderEvent.objects.filter(pk=event.pk).update(created_at=when)
        if needs_approval and approver is not None and approver != requester:
            decision = OrderApproval.objects.create(
                order=order, step=0, approver=approver, decision="approved"
            )
            OrderApproval.objects.filter(pk=decision.pk).update(created_at=fields["approved_at"])
        if automated and runbook is not None and runbook.current_version is not None:
            run = Run.objects.create(
                runbook_version=runbook.current_version,
                status=RunStatus.FAILED if status == OrderStatus.FAILED else RunStatus.SUCCEEDED,
                started_at=fields["started_at"],
                finished_at=fields["finished_at"],
                rc=fields["return_code"],
                failure_reason=fields.get("failure_reason", "")[:1000],
                event_count=1,
            )
            Run.objects.filter(pk=run.pk).update(created_at=fields["started_at"])
            OrderRun.objects.create(order=order, run=run, attempt=1)
            Order.objects.filter(pk=order.pk).update(current_run=run)
            stdout = DEPRECATION if runbook.slug == DEPRECATED_RUNBOOK else "ok: [localhost]"
            RunEvent.objects.create(
                run=run, counter=1, event="verbose", stdout=stdout, created_at=fields["started_at"]
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
