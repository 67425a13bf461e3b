"""Identity tasks: thin, the work is in the modules they call."""

from __future__ import annotations

from celery import shared_task

from portal.identity.oidc import oidc_identities_check


@shared_task(name="portal.check_sso_accounts", time_limit=600, soft_time_limit=570)
def check_sso_accounts() -> dict[str, int]:
    return oidc_identities_check()
