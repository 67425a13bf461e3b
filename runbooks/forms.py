"""Forms that squads curate runbooks and credentials with (used by the admin).

They validate input; saving goes through ``runbooks.services`` so the admin,
the catalogue importer and any future API share one path.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from runbooks.choices import CredentialKind
from runbooks.models import Credential, Runbook, RunbookVersion
from runbooks.playbooks import validate_playbook
from runbooks.services import SECRET_FIELDS

#: Attributes of a text area that holds code (YAML, keys): monospace, no
#: spell-checking, wide enough for a playbook.
CODE_ATTRS = {
    "class": "vLargeTextField",
    "rows": 20,
    "cols": 100,
    "spellcheck": "false",
    "style": "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre;",
}

#: What a shell and Ansible accept as an environment variable name.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def normalize_newlines(text: str) -> str:
    """Browsers submit text areas with CRLF line ends; store LF only, so that an
    unchanged playbook keeps its checksum and creates no new version."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# A PEM or OpenSSH private key: its armour lines around base64 (and, for
# legacy encrypted PEM keys, header lines).
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+ )?PRIVATE KEY-----\n.+\n-----END ([A-Z0-9 ]+ )?PRIVATE KEY-----", re.DOTALL
)


class PlaybookField(forms.CharField):
    """An Ansible playbook, validated as one (YAML, a list of plays)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strip", False)  # whitespace is YAML syntax
        # ``data-code-editor`` asks the admin's editor (portal/static/vendor/codemirror)
        # to take over with line numbers and highlighting; without it the text area works.
        kwargs.setdefault("widget", forms.Textarea(attrs={**CODE_ATTRS, "data-code-editor": "yaml"}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        # CharField gives a string (its empty_value is ""); mypy's Django allows None.
        return normalize_newlines(super().to_python(value) or "")

    def validate(self, value: str) -> None:
        super().validate(value)
        if value:
            validate_playbook(value)


class RunbookForm(forms.ModelForm):
    """A runbook with its playbook; the playbook becomes a new version when it
    changes (see ``RunbookAdmin.save_model``)."""

    playbook = PlaybookField(
        help_text="The Ansible playbook (YAML, a list of plays). Saving a changed "
        "playbook adds a version; earlier versions stay readable. In the editor, Tab "
        "indents: press Escape, then Tab, to move on to the next field.",
    )

    class Meta:
        model = Runbook
        fields = (
            "slug",
            "name",
            "squad",
            "description",
            "timeout",
            "queue",
            "network",
            "supports_check_mode",
            "credentials",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "playbook" in self.fields and self.instance.pk:
            self.fields["playbook"].initial = self.instance.playbook

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        squad = cleaned.get("squad")
        if squad is None and self.instance.squad_id:
            squad = self.instance.squad
        if squad is None:
            return cleaned
        credentials = cleaned.get("credentials")
        if credentials is not None:
            foreign = sorted(str(credential) for credential in credentials if credential.squad_id != squad.pk)
            if foreign:
                self.add_error(
                    "credentials",
                    f"{', '.join(foreign)}: a runbook uses only its own squad's credentials ({squad}).",
                )
        # ``self.instance`` still holds the stored squad until the form is saved.
        if self.instance.pk and "squad" in cleaned and self.instance.squad_id != squad.pk:
            users = sorted(self.instance.products.exclude(squad=squad).values_list("name", flat=True))
            if users:
                self.add_error(
                    "squad",
                    f"Products of another squad run this runbook ({', '.join(users)}); "
                    "a product runs its own squad's runbooks.",
                )
        return cleaned


class SecretTextarea(forms.Textarea):
    """A text area that never renders a value back, not even the one just
    submitted with an error: a secret goes in, it never comes out."""

    def format_value(self, value: Any) -> None:
        return None


def parse_env_lines(text: str) -> dict[str, str]:
    """``NAME=value`` lines to a mapping. Blank lines and ``#`` comments are
    skipped. Errors name the line and the variable, never the value."""
    env: dict[str, str] = {}
    errors: list[ValidationError] = []
    for number, line in enumerate(normalize_newlines(text).split("\n"), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, separator, value = line.partition("=")
        name = name.strip()
        if not separator:
            errors.append(ValidationError(f"Line {number} is not NAME=value."))
        elif not ENV_NAME.match(name):
            errors.append(
                ValidationError(
                    f"Line {number}: {name!r} is not an environment variable name "
                    "(letters, digits and '_', not starting with a digit)."
                )
            )
        elif name in env:
            errors.append(ValidationError(f"Line {number}: {name} is set twice."))
        else:
            env[name] = value
    if errors:
        raise ValidationError(errors)
    if not env:
        raise ValidationError("Give at least one NAME=value line.")
    return env


class CredentialForm(forms.ModelForm):
    """A credential and its secret. Which secret fields apply depends on the
    kind; none of them ever shows a stored or submitted value.

    Leaving every secret field blank on edit keeps the stored secret; filling
    any of them replaces the whole secret (a new SSH key without passphrase
    must not keep the old key's passphrase).
    """

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="For a username and password credential.",
    )
    ssh_key_data = forms.CharField(
        label="SSH private key",
        required=False,
        strip=False,
        widget=SecretTextarea(attrs={**CODE_ATTRS, "rows": 8, "autocomplete": "off"}),
        help_text="For an SSH key credential: the private key (PEM / OpenSSH format).",
    )
    passphrase = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="For an SSH key credential whose key is encrypted.",
    )
    env = forms.CharField(
        label="Environment",
        required=False,
        strip=False,
        widget=SecretTextarea(attrs={**CODE_ATTRS, "rows": 6, "autocomplete": "off"}),
        help_text="For a token credential: one NAME=value line per environment variable.",
    )

    class Meta:
        model = Credential
        fields = ("slug", "name", "squad", "kind", "username")

    def clean_ssh_key_data(self) -> str:
        key = normalize_newlines(self.cleaned_data["ssh_key_data"]).strip()
        if key and not _PRIVATE_KEY.fullmatch(key):
            # Said without echoing any of it: it is (meant to be) a secret.
            raise forms.ValidationError(
                "This is not a private key: paste the whole file, from '-----BEGIN … PRIVATE KEY-----' "
                "to '-----END … PRIVATE KEY-----'."
            )
        # OpenSSH refuses a private key file that does not end with a newline.
        return f"{key}\n" if key else ""

    def clean_env(self) -> dict[str, str] | None:
        text = self.cleaned_data["env"]
        return parse_env_lines(text) if text.strip() else None

    def _kind(self) -> str | None:
        # On edit the kind is read-only (its secrets would not fit another
        # kind), so it comes from the stored credential.
        return self.cleaned_data.get("kind") or self.instance.kind or None

    def _given_secrets(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data.get(name)
            for name in ("password", "ssh_key_data", "passphrase", "env")
            if name in self.fields and self.cleaned_data.get(name)
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind = self._kind()
        if kind is None:
            return cleaned
        given = self._given_secrets()
        allowed = SECRET_FIELDS[kind]
        label = CredentialKind(kind).label
        for name in given.keys() - set(allowed):
            self.add_error(name, f"Not part of a credential of kind {label!r}; leave it blank.")
        required = allowed[0]
        if not self.instance.has_secret and not given.get(required) and required in self.fields:
            self.add_error(required, f"A credential of kind {label!r} needs this secret.")
        if given and not given.get(required) and required in self.fields and self.instance.has_secret:
            self.add_error(
                required,
                "Filling a secret field replaces the whole secret: give this one too, "
                "or leave all secret fields blank to keep the stored secret.",
            )
        squad = cleaned.get("squad")
        if self.instance.pk and squad is not None and squad.pk != self.instance.squad_id:
            users = sorted(self.instance.runbooks.exclude(squad=squad).values_list("name", flat=True))
            if users:
                self.add_error(
                    "squad",
                    f"Runbooks of another squad use this credential ({', '.join(users)}); "
                    "a runbook uses only its own squad's credentials.",
                )
        return cleaned

    def secrets_to_store(self) -> dict[str, Any] | None:
        """The secret to encrypt, or ``None`` to keep the stored one."""
        given = self._given_secrets()
        return given or None


class VersionDiffForm(forms.Form):
    """Two versions of one runbook to compare, by their numbers (``?old=2&new=5``).

    The choices are that runbook's versions only, so a number from another
    runbook's history, or none at all, is refused with what went wrong."""

    old = forms.TypedChoiceField(
        coerce=int,
        label="Compare version",
        error_messages={
            "required": "Pick the version to compare from.",
            "invalid_choice": "This runbook has no version %(value)s.",
        },
    )
    new = forms.TypedChoiceField(
        coerce=int,
        label="with version",
        error_messages={
            "required": "Pick the version to compare with.",
            "invalid_choice": "This runbook has no version %(value)s.",
        },
    )

    def __init__(self, data: Any, *, versions: list[RunbookVersion]) -> None:
        super().__init__(data)
        choices = [(version.number, version_label(version)) for version in versions]
        for name in ("old", "new"):
            field = self.fields[name]
            assert isinstance(field, forms.TypedChoiceField)
            field.choices = choices

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "old" in cleaned and "new" in cleaned and cleaned["old"] == cleaned["new"]:
            raise ValidationError("Pick two different versions: a version does not differ from itself.")
        return cleaned


def version_label(version: RunbookVersion) -> str:
    """How a version is named in a list: its number, when and by whom."""
    author = version.created_by.get_username() if version.created_by else "unknown"
    return f"Version {version.number} — {version.created_at:%Y-%m-%d %H:%M} UTC by {author}"
