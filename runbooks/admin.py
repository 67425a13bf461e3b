"""Admin where squads curate their runbooks, playbook versions and credentials.

Every admin here is limited to the user's squads (``SquadOwnedAdmin``).
Playbooks and secrets are saved through ``runbooks.services``; a secret is
write-only: the admin says whether one is stored, never what it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from runbooks.forms import CredentialForm, RunbookForm
from runbooks.models import Credential, Runbook, RunbookVersion
from runbooks.services import SECRET_FIELDS, credential_set_secrets, runbook_set_playbook
from squads.admin_mixins import SquadOwnedAdmin, may_enter, signed_in_user
from squads.selectors import can_curate

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


def code_block(content: str) -> SafeString:
    """Show code (a playbook) as it is written: escaped, monospace, indentation kept."""
    return format_html(
        '<pre style="font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre; '
        'overflow-x: auto; margin: 0;">{}</pre>',
        content,
    )


class RunbookVersionInline(admin.TabularInline):
    """The playbook's history on the runbook's page, read-only, each row
    linking to the version's own page with its content."""

    model = RunbookVersion
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("number", "checksum", "created_at", "created_by")
    readonly_fields = fields
    ordering = ("-number",)
    verbose_name = "playbook version"
    verbose_name_plural = "playbook versions"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RunbookVersion]:
        return super().get_queryset(request).select_related("created_by")

    def has_view_permission(self, request: HttpRequest, obj: Runbook | None = None) -> bool:
        # ``obj`` is the runbook: whoever may curate it may read its history.
        # Without one (Django asks so when it builds the rows' queryset) the
        # runbook admin has already decided who gets this far.
        if obj is None:
            return may_enter(request)
        return can_curate(request.user, obj.squad_id)

    def has_add_permission(self, request: HttpRequest, obj: Runbook | None = None) -> bool:
        return False  # versions come only from saving a playbook

    def has_change_permission(self, request: HttpRequest, obj: Runbook | None = None) -> bool:
        return False  # a version is immutable: runs record which one they executed

    def has_delete_permission(self, request: HttpRequest, obj: Runbook | None = None) -> bool:
        return False


@admin.register(Runbook)
class RunbookAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """A squad's runbooks; the playbook is edited here and saved as a version."""

    form = RunbookForm
    list_display = ("name", "slug", "squad", "current_version_number", "timeout", "queue", "updated_at")
    list_filter = (("squad", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("squad", "current_version")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("credentials",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "squad", "description")}),
        ("Execution", {"fields": ("timeout", "queue", "network", "supports_check_mode", "credentials")}),
        ("Playbook", {"fields": ("current_version_number", "playbook")}),
    )
    readonly_fields = ("current_version_number",)
    inlines = (RunbookVersionInline,)

    def get_inlines(self, request: HttpRequest, obj: Runbook | None) -> Any:
        # A runbook being added has no history yet.
        return self.inlines if obj is not None else ()

    @admin.display(description="current version", ordering="current_version__number")
    def current_version_number(self, runbook: Runbook) -> int | str:
        return runbook.current_version.number if runbook.current_version else "—"

    def save_model(self, request: HttpRequest, obj: Runbook, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # The service creates a version only when the content differs from the
        # current one, so saving an unchanged form does not churn versions.
        runbook_set_playbook(runbook=obj, content=form.cleaned_data["playbook"], user=signed_in_user(request))

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Versions belong to their runbook and go with it; nobody may delete
        # one on its own, but that must not forbid deleting the runbook.
        perms_needed.discard(str(RunbookVersion._meta.verbose_name))
        return deleted, counts, perms_needed, protected


@admin.register(RunbookVersion)
class RunbookVersionAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """Read-only history of playbooks: a version is immutable because runs
    record exactly which one they executed. Not even superusers edit one."""

    squad_lookup = "runbook__squad"
    list_display = ("runbook", "number", "checksum", "created_at", "created_by")
    list_filter = (("runbook", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("runbook", "created_by")
    search_fields = ("runbook__name", "runbook__slug", "checksum")
    fields = ("runbook", "number", "checksum", "created_at", "created_by", "playbook")
    readonly_fields = fields

    @admin.display(description="playbook")
    def playbook(self, version: RunbookVersion) -> SafeString:
        return code_block(version.content)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Credential)
class CredentialAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """A squad's credentials. The secret is write-only: the page shows whether
    one is stored, never the plaintext nor the ciphertext."""

    form = CredentialForm
    list_display = ("name", "slug", "squad", "kind", "username", "secret_stored", "updated_at")
    list_filter = ("kind", ("squad", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("squad",)
    search_fields = ("name", "slug", "username")
    prepopulated_fields = {"slug": ("name",)}
    # ``secret_ciphertext`` is not editable anyway; excluding it says it must
    # never appear on a page, not even read-only.
    exclude = ("secret_ciphertext",)

    @admin.display(description="secret stored")
    def secret_stored(self, credential: Credential) -> str:
        return "yes" if credential.has_secret else "no"

    def get_fieldsets(self, request: HttpRequest, obj: Credential | None = None) -> _FieldsetSpec:
        if obj is None:
            secret_fields: tuple[str, ...] = ("password", "ssh_key_data", "passphrase", "env")
            description = (
                "Fill the fields of the chosen kind only: password (username and password), "
                "SSH private key and passphrase (SSH key), or environment (token). "
                "The secret is stored encrypted and never shown again."
            )
        else:
            secret_fields = ("secret_stored", *SECRET_FIELDS[obj.kind])
            description = (
                "The secret is stored encrypted and never shown. Leave these fields blank to keep "
                "it; filling any of them replaces the whole secret."
            )
        return (
            (None, {"fields": ("name", "slug", "squad", "kind", "username")}),
            ("Secret", {"fields": secret_fields, "description": description}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Credential | None = None) -> tuple[str, ...]:
        # The stored secret only fits its kind, so the kind is fixed once saved.
        return ("kind", "secret_stored") if obj is not None else ("secret_stored",)

    def save_model(self, request: HttpRequest, obj: Credential, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        assert isinstance(form, CredentialForm)  # the admin builds its form from ``form``
        secrets = form.secrets_to_store()
        if secrets is not None:
            credential_set_secrets(credential=obj, secrets=secrets)
