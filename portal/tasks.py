"""Celery's autodiscovery imports ``portal.tasks``: the domains' task
modules are imported here so their tasks are registered (the names are
part of the contract: ``portal.execute_order``, ``portal.deliver_webhook``…).

The order sweep's task lives here, in the project shell, because it also
records the insights' recovery counters: the order domain never imports
insights, which only reads orders."""

from dataclasses import asdict

from celery import shared_task

from portal.identity import tasks as identity_tasks  # noqa: F401 - registers its tasks
from portal.insights.services import sweep_recoveries_record
from portal.instances import tasks as instance_tasks  # noqa: F401 - registers its tasks
from portal.integrations import tasks as integration_tasks  # noqa: F401 - registers its tasks
from portal.notifications import tasks as notification_tasks  # noqa: F401 - registers its tasks
from portal.orders import tasks as order_tasks  # noqa: F401 - registers its tasks
from portal.orders.recovery import orders_sweep
from runbooks.execution.workspace import private_dirs_cleanup


@shared_task(name="portal.sweep_orders", time_limit=120, soft_time_limit=100)
def sweep_orders() -> dict:
    recovered = orders_sweep()
    sweep_recoveries_record(recovered)
    report = asdict(recovered)
    # The sweep runs on a worker: it also tidies that worker's machine.
    report["private_dirs_removed"] = len(private_dirs_cleanup())
    return report
