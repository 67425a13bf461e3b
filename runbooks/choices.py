from django.db import models


class CredentialKind(models.TextChoices):
    USERNAME_PASSWORD = "username_password", "Username and password"
    SSH_KEY = "ssh_key", "SSH private key"
    TOKEN_ENV = "token_env", "Token / environment variables"


class RunbookNetwork(models.TextChoices):
    """What network a runbook's playbook sees in its sandbox."""

    WORKER = "worker", "The worker's network"
    # A new, empty network namespace: the playbook reaches no host at all,
    # not even the worker's own services on localhost.
    NONE = "none", "No network"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"
    # The worker stopped sending heartbeats (it died or lost the database):
    # nobody knows how far the playbook got.
    LOST = "lost", "Lost"


class FailureKind(models.TextChoices):
    """What kind of failure ended a run, where it tells whether running it
    again with the same inputs could end otherwise."""

    # A task failed (a module, a command, an unreachable host): another run
    # may well succeed.
    TASK = "task", "A task failed"
    # The playbook itself refused the inputs (``assert`` or ``fail``): the
    # same inputs are refused again.
    REFUSED = "refused", "The playbook refused the inputs"
    # Squadron could not hand the inputs to Ansible (a reserved name):
    # the same inputs fail again.
    INPUTS = "inputs", "The inputs cannot be given to Ansible"


#: Modules with which a playbook refuses what it was given: their failure
#: is the playbook's answer to the inputs, not an accident of the run.
REFUSING_MODULES = frozenset(
    f"{prefix}{module}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for module in ("assert", "fail")
)


#: Statuses a run never leaves.
TERMINAL_RUN_STATUSES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.CANCELLED,
        RunStatus.LOST,
    }
)


class CancelOutcome(models.TextChoices):
    """What ``run_request_cancel`` did."""

    CANCELLED = "cancelled", "Cancelled before it started"
    REQUESTED = "requested", "Cancel requested; the executor stops the playbook"
    ALREADY_REQUESTED = "already_requested", "Cancel was already requested; the playbook is being stopped"
