"""State changes of runbooks and credentials."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from runbooks.choices import CredentialKind
from runbooks.crypto import encrypt_json
from runbooks.models import Credential, Runbook, RunbookVersion
from runbooks.playbooks import playbook_checksum, validate_playbook

#: Secret keys each credential kind may hold.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    CredentialKind.USERNAME_PASSWORD: ("password",),
    CredentialKind.SSH_KEY: ("ssh_key_data", "passphrase"),
    CredentialKind.TOKEN_ENV: ("env",),
}


def runbook_set_playbook(
    *, runbook: Runbook, content: str, user: AbstractBaseUser | None = None
) -> RunbookVersion:
    """Make ``content`` the runbook's current playbook.

    Identical content (same checksum as the current version) creates nothing,
    so saving a form or re-importing a catalogue does not churn versions.
    """
    validate_playbook(content)
    checksum = playbook_checksum(content)
    with transaction.atomic():
        locked = Runbook.objects.select_for_update().get(pk=runbook.pk)
        current = locked.current_version
        if current is not None and current.checksum == checksum:
            runbook.current_version = current
            return current
        last = locked.versions.aggregate(last=Max("number"))["last"] or 0
        version = RunbookVersion.objects.create(
            runbook=locked, number=last + 1, content=content, checksum=checksum, created_by=user
        )
        Runbook.objects.filter(pk=locked.pk).update(current_version=version)
    runbook.current_version = version
    return version


def credential_set_secrets(*, credential: Credential, secrets: dict) -> None:
    """Replace the credential's secret values (encrypted before they are stored).

    Empty values are dropped so that a form left blank keeps nothing in clear.
    """
    allowed = SECRET_FIELDS[credential.kind]
    unknown = set(secrets) - set(allowed)
    if unknown:
        raise ValueError(f"{credential.get_kind_display()} has no secret {sorted(unknown)}")
    kept = {key: value for key, value in secrets.items() if value}
    credential.secret_ciphertext = encrypt_json(kept) if kept else ""
    Credential.objects.filter(pk=credential.pk).update(
        secret_ciphertext=credential.secret_ciphertext
    )
