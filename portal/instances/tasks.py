"""The instances' Celery task: thin, run by beat."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from portal.instances.services import instances_expiry_check

EXPIRY_TASK = "portal.check_instance_expiry"


@shared_task(name=EXPIRY_TASK, time_limit=300, soft_time_limit=240)
def check_instance_expiry() -> dict:
    """Remind owners of instances about to expire; decommission expired ones."""
    return asdict(instances_expiry_check())
