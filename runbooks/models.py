from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from runbooks.choices import CredentialKind
from runbooks.crypto import decrypt_json
from squads.models import Squad

queue_name_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]+$", "A queue name uses letters, digits, '.', '_' and '-' only."
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
    credentials = models.ManyToManyField(Credential, blank=True, related_name="runbooks")
    current_version = models.ForeignKey(
        "RunbookVersion",
        on_delete=models.PROTECT,
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
