"""Orders that finished while a question to their requester was open still
said "Waits on you": a finished order waits on nobody (order_move now clears
it at every finish)."""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# The terminal statuses as this migration knows them, not as the code may later.
FINISHED = ["rejected", "succeeded", "failed", "timed_out", "cancelled"]


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    Order = apps.get_model("portal", "Order")
    Order.objects.filter(status__in=FINISHED, waiting_on_requester_since__isnull=False).update(
        waiting_on_requester_since=None
    )


class Migration(migrations.Migration):
    dependencies = [("portal", "0016_order_comments")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
