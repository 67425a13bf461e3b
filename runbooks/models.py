from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from runbooks.choices import TERMINAL_RUN_STATUSES, CredentialKind, FailureKind, RunbookNetwork, RunStatus
from runbooks.crypto import decrypt_json
from squads.models import Squad

queue_name_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]+$", "A queue name uses letters, digits, '.', '_' and '-' only."
)


def queue_problem(queue: str, squad_slug: str) -> str | None:
    """Why a runbook of ``squad_slug`` may not send its runs to ``queue``, or
    None. A squad's own queues carry its name (``network``, ``network-dmz``,
    ``network.lab``): the workers behind them hold what that squad's runs
    may reach, and a playbook runs with a worker's rights, so another squad
    must not be able to route its playbooks there."""
    if queue and queue in (settings.CELERY_TASK_DEFAULT_QUEUE, settings.SQUADRON_WEBHOOK_QUEUE):
        # A squad whose slug is a service queue's name would otherwise put
        # its playbooks on the workers of every squad (or of the webhooks).
        return f"“{queue}” is a queue of the service itself: leave the queue empty for the default one."
    if not queue or queue == squad_slug or queue.startswith((f"{squad_slug}-", f"{squad_slug}.")):
        return None
    return (
        f"A runbook of {squad_slug} runs on the default queue or on its squad's own: "
        f"“{squad_slug}”, or a name starting “{squad_slug}-” or “{squad_slug}.”."
    )


class Credential(models.Model):
    """A secret a squad's runbooks need to reach their targets (a password, an
    SSH key, API tokens). The secret part is encrypted at rest with
    ``SQUADRON_CREDENTIAL_KEY`` and never shown back after it is saved."""

    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    squad = models.ForeignKey(Squad, on_delete=models.PROTECT, related_name="credentials")
    kind = models.CharField(max_length=32, choices=CredentialKind.choices)
    # Not secret: the login name of a username/password or SSH credential.
    username = models.CharField(max_length=200, blank=True)
    # Fernet token of a JSON object; keys depend on ``kind`` (password,
    # ssh_key_data, passphrase, env).
    secret_ciphertext = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["squad__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["squad", "slug"], name="credential_unique_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.squad})"

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ciphertext)

    def secrets(self) -> dict:
        """The decrypted secret values; only the executor should call this."""
        if not self.secret_ciphertext:
            return {}
        value = decrypt_json(self.secret_ciphertext)
        return value if isinstance(value, dict) else {}


class Runbook(models.Model):
    """An operating procedure turned into automation: an Ansible playbook owned
    by a squad. Its playbook is kept as immutable versions, so every run can
    say exactly what it executed."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    squad = models.ForeignKey(Squad, on_delete=models.PROTECT, related_name="runbooks")
    description = models.TextField(blank=True)
    timeout = models.PositiveIntegerField(
        default=600,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 3600)],
        help_text="Seconds a run may take before it is stopped as timed out.",
    )
    queue = models.CharField(
        max_length=100,
        blank=True,
        validators=[queue_name_validator],
        help_text="Celery queue for its runs; empty for the default queue. "
        "Lets a squad run its own workers for network reach or isolation.",
    )
    network = models.CharField(
        max_length=8,
        choices=RunbookNetwork.choices,
        default=RunbookNetwork.WORKER,
        help_text="None: the playbook runs without any network (it needs the bubblewrap sandbox). "
        "Choose it for runbooks that only compute or template.",
    )
    credentials = models.ManyToManyField(Credential, blank=True, related_name="runbooks")
    supports_check_mode = models.BooleanField(
        default=False,
        help_text="The playbook can run in Ansible's check mode (a dry run that changes nothing), "
        "so approvers may preview it.",
    )
    current_version = models.ForeignKey(
        "RunbookVersion",
        # SET_NULL, not PROTECT: the runbook's own versions are deleted with
        # it, and PROTECT would make every runbook with a playbook undeletable.
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["squad__name", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.squad_id and (problem := queue_problem(self.queue, self.squad.slug)):
            raise ValidationError({"queue": problem})

    @property
    def playbook(self) -> str:
        return self.current_version.content if self.current_version else ""


class RunbookVersion(models.Model):
    """One immutable revision of a runbook's playbook. Editing the playbook
    adds a version; earlier versions stay readable for the runs that used them."""

    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content = models.TextField()
    checksum = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["runbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "number"], name="runbook_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.runbook.slug} v{self.number}"


class Run(models.Model):
    """One execution of a runbook version by a worker: what it was given (with
    secrets masked), where and when it ran, how it ended and Ansible's per-host
    summary. Runs know nothing of orders; the portal links an order to its runs."""

    runbook_version = models.ForeignKey(RunbookVersion, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed by the executor while the playbook runs; a stale one means the
    # worker died and the run is marked lost by the sweep.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="hostname:pid of the worker.")
    rc = models.IntegerField(null=True, blank=True)
    # {host: {ok, changed, failures, dark, skipped, rescued, ignored}} from
    # Ansible's playbook_on_stats event.
    stats = models.JSONField(default=dict, blank=True)
    failure_reason = models.CharField(max_length=1000, blank=True)
    # The first failed task's name, and what kind of failure it was: the
    # portal tells a requester which step failed and whether a retry can help.
    failed_task = models.CharField(max_length=255, blank=True)
    failure_kind = models.CharField(max_length=16, choices=FailureKind.choices, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    check_mode = models.BooleanField(default=False, help_text="Dry run (ansible-playbook --check).")
    event_count = models.PositiveIntegerField(default=0)
    # The inputs with every secret value replaced by the mask: safe to show.
    masked_inputs = models.JSONField(default=dict, blank=True)
    # What the playbook reported with Ansible's ``set_stats`` (the
    # ``playbook_on_stats`` event's ``artifact_data``), encrypted: a playbook
    # may report a secret it generated. ``runbooks.services.run_reported``
    # reads it back; the portal decides what it means.
    reported_ciphertext = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The lost-worker sweep looks up running runs by heartbeat age.
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat_idx"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.runbook_version} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


class RunEvent(models.Model):
    """One event Ansible emitted during a run (a play or task starting, a task's
    result on a host, the final stats), in the order it was emitted. Its output
    is stored masked and trimmed: it is what users read, never the raw data."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    counter = models.PositiveIntegerField()
    event = models.CharField(max_length=100)
    host = models.CharField(max_length=255, blank=True)
    task = models.CharField(max_length=255, blank=True)
    stdout = models.TextField(blank=True)
    event_data = models.JSONField(default=dict, blank=True)
    failed = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["counter"]
        constraints = [
            models.UniqueConstraint(fields=["run", "counter"], name="run_event_unique_counter"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.counter} {self.event}"
