"""A runbook's credentials turned into what one run's playbook gets.

Credentials reach the playbook as environment variables, inventory variables
and ansible-runner's ssh-agent (the key through a FIFO, never a regular
file), never on the command line. Every secret value they hold is returned
too, so that the run masks it in everything it stores or logs.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runbooks.choices import CredentialKind
from runbooks.crypto import DecryptionError
from runbooks.execution.masking import secret_leaves
from runbooks.models import Credential

#: The end of ssh-add's prompt for the passphrase of the key ansible-runner
#: hands it ("Enter passphrase for <artifact dir>/ssh_key_data: "). Only the
#: end: ansible-runner searches the last 100 characters of output, and the
#: path alone can be longer. The same end closes ssh-add's "Bad passphrase,
#: try again" prompt, which it repeats forever: the recorder sees that line
#: and the run is stopped (``SSH_ADD_RETRY_PROMPT``).
SSH_ADD_PROMPT_END = r"/ssh_key_data:\s*?$"
SSH_ADD_RETRY_PROMPT = "Bad passphrase, try again for "

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExecutorError(Exception):
    """The run cannot be prepared (its credentials or inputs are unusable).
    The message is stored as the failure reason, masked."""


def env_name_for(credential: Credential, suffix: str) -> str:
    """``SQUADRON_<SLUG>_<SUFFIX>``, the variable carrying a credential part."""
    return f"SQUADRON_{credential.slug.upper().replace('-', '_')}_{suffix}"


@dataclass
class CredentialMaterial:
    """What a runbook's credentials give one run, and the values to mask."""

    envvars: dict[str, str] = field(default_factory=dict)
    # Inventory variables for all hosts (lowest precedence: a playbook can
    # still choose another user per host).
    host_vars: dict[str, str] = field(default_factory=dict)
    ssh_key: str | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def credential_material(credentials: Iterable[Credential]) -> CredentialMaterial:
    """Decrypt ``credentials`` and turn them into environment variables,
    connection variables and an SSH key:

    * username/password: ``SQUADRON_<SLUG>_USERNAME`` and ``_PASSWORD``; when
      the runbook has exactly one, also ``ansible_user``/``ansible_password``
      for all hosts (inventory variables, written to a 0600 file);
    * token/env: each of its variables as it is;
    * SSH key (at most one: ssh-agent gets it through a FIFO, its passphrase
      through ssh-add's prompt); its username as ``SQUADRON_<SLUG>_USERNAME``
      and, when no username/password credential names one, ``ansible_user``.
    """
    material = CredentialMaterial()
    logins: list[Credential] = []
    for credential in credentials:
        try:
            secrets = credential.secrets()
        except DecryptionError as error:
            raise ExecutorError(f"Credential {credential.slug!r} cannot be decrypted: {error}") from None
        material.secrets.extend(secret_leaves(secrets))
        if credential.kind == CredentialKind.USERNAME_PASSWORD:
            logins.append(credential)
            material.envvars[env_name_for(credential, "USERNAME")] = credential.username
            material.envvars[env_name_for(credential, "PASSWORD")] = str(secrets.get("password", ""))
        elif credential.kind == CredentialKind.TOKEN_ENV:
            _add_token_env(material, credential, secrets)
        elif credential.kind == CredentialKind.SSH_KEY:
            _add_ssh_key(material, credential, secrets)
    if len(logins) == 1:
        material.host_vars["ansible_user"] = logins[0].username
        material.host_vars["ansible_password"] = material.envvars[env_name_for(logins[0], "PASSWORD")]
    return material


def _add_token_env(material: CredentialMaterial, credential: Credential, secrets: Mapping[str, Any]) -> None:
    env = secrets.get("env") or {}
    if not isinstance(env, Mapping):
        raise ExecutorError(f"Credential {credential.slug!r}: its env must be an object.")
    for name, value in env.items():
        if not ENV_NAME.match(str(name)):
            raise ExecutorError(
                f"Credential {credential.slug!r}: {name!r} is not an environment variable name."
            )
        material.envvars[str(name)] = str(value)


def _add_ssh_key(material: CredentialMaterial, credential: Credential, secrets: Mapping[str, Any]) -> None:
    if material.ssh_key is not None:
        raise ExecutorError("A runbook can use one SSH key credential only.")
    material.ssh_key = str(secrets.get("ssh_key_data") or "")
    if not material.ssh_key.strip():
        raise ExecutorError(f"Credential {credential.slug!r} has no SSH key.")
    if not material.ssh_key.endswith("\n"):
        material.ssh_key += "\n"  # ssh-add rejects a key without its final newline
    if secrets.get("passphrase"):
        material.passwords[SSH_ADD_PROMPT_END] = str(secrets["passphrase"])
    if credential.username:
        material.envvars[env_name_for(credential, "USERNAME")] = credential.username
        material.host_vars.setdefault("ansible_user", credential.username)


def release_fifo(path: str | None) -> None:
    """Unblock ansible-runner's thread that writes the SSH key into a FIFO
    when ssh-add never read it (the run stopped first): read and discard it,
    or that thread would wait forever."""
    if not path:
        return
    with contextlib.suppress(OSError):
        if not stat.S_ISFIFO(os.lstat(path).st_mode):
            return
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                ready, _, _ = select.select([descriptor], [], [], 0.1)
                if ready and not os.read(descriptor, 65536):
                    break
        finally:
            os.close(descriptor)
