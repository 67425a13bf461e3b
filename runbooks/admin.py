"""Admin where squads curate their runbooks, playbook versions and credentials.

Every admin here is limited to the user's squads (``SquadOwnedAdmin``).
Playbooks and secrets are saved through ``runbooks.services``; a secret is
write-only: the admin says whether one is stored, never what it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from runbooks.diffs import playbook_diff
from runbooks.forms import CredentialForm, RunbookForm, VersionDiffForm
from runbooks.models import Credential, Runbook, RunbookVersion
from runbooks.services import SECRET_FIELDS, credential_set_secrets, runbook_set_playbook
from squads.admin_mixins import SquadOwnedAdmin, may_enter, signed_in_user
from squads.selectors import can_curate

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


#: The admin's playbook editor: CodeMirror 6, built by ``make vendor`` from
#: frontend/ (a script file, no inline script). It enhances what carries
#: ``data-code-editor``; without it the text area and ``<pre>`` still work.
CODE_EDITOR_MEDIA = ("vendor/codemirror/code-editor.min.js",)


def code_block(content: str, label: str = "Playbook") -> SafeString:
    """Show code (a playbook) as it is written: escaped, monospace, indentation
    kept; the editor shows it read-only with line numbers and highlighting."""
    return format_html(
        '<pre class="code-block" data-code-editor="yaml" aria-label="{}">{}</pre>', label, content
    )


def diff_url(
    admin_site: admin.AdminSite, runbook_id: int, old: int | None = None, new: int | None = None
) -> str:
    """The page comparing two versions of a runbook (its latest two without numbers)."""
    url = reverse(f"{admin_site.name}:runbooks_runbook_diff", args=[runbook_id])
    return f"{url}?{urlencode({'old': old, 'new': new})}" if old is not None and new is not None else url


def compare_with_previous(admin_site: admin.AdminSite, version: RunbookVersion) -> SafeString | str:
    """A link to what ``version`` changed, for every version but the first."""
    if version.number <= 1:
        return "first version"
    return format_html(
        '<a href="{}">changes from version {}</a>',
        diff_url(admin_site, version.runbook_id, version.number - 1, version.number),
        version.number - 1,
    )


class RunbookVersionInline(admin.TabularInline):
    """The playbook's history on the runbook's page, read-only, each row
    linking to the version's own page with its content."""

    model = RunbookVersion
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("number", "checksum", "created_at", "created_by", "changes")
    readonly_fields = fields
    ordering = ("-number",)
    verbose_name = "playbook version"
    verbose_name_plural = "playbook versions"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RunbookVersion]:
        # The rows show no playbook: its text stays in the database.
        return super().get_queryset(request).select_related("created_by").defer("content")

    @admin.display(description="changes")
    def changes(self, version: RunbookVersion) -> SafeString | str:
        return compare_with_previous(self.admin_site, version)

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

    class Media:
        js = CODE_EDITOR_MEDIA

    def get_inlines(self, request: HttpRequest, obj: Runbook | None) -> Any:
        # A runbook being added has no history yet.
        return self.inlines if obj is not None else ()

    def get_fieldsets(self, request: HttpRequest, obj: Runbook | None = None) -> _FieldsetSpec:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # Who may only read gets the playbook as code (numbered, highlighted),
        # not the plain paragraph Django would make of the text.
        return [
            (
                name,
                {
                    **options,
                    "fields": [("playbook_code" if f == "playbook" else f) for f in options["fields"]],
                },
            )
            for name, options in fieldsets
        ]

    @admin.display(description="current version", ordering="current_version__number")
    def current_version_number(self, runbook: Runbook) -> int | str:
        return runbook.current_version.number if runbook.current_version else "—"

    @admin.display(description="playbook")
    def playbook_code(self, runbook: Runbook) -> SafeString:
        return code_block(runbook.playbook)

    # --- Comparing versions -------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        diff = path(
            "<path:object_id>/diff/",
            self.admin_site.admin_view(self.diff_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_diff",
        )
        return [diff, *super().get_urls()]

    def diff_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Two versions of the runbook's playbook side by side in one unified
        diff. Whoever may see the runbook may compare its versions; for anyone
        else the runbook does not exist (404, as its change page would)."""
        runbook = self.get_object(request, unquote(object_id))
        if runbook is None or not self.has_view_permission(request, runbook):
            raise Http404("No runbook with this id.")
        # Labels only: the two playbooks compared are read below, not the whole history.
        versions = list(runbook.versions.select_related("created_by").defer("content").order_by("-number"))
        form = None
        diff = old = new = None
        if len(versions) >= 2:
            wanted = request.GET if ("old" in request.GET or "new" in request.GET) else None
            # Without a choice: what the latest save changed.
            form = VersionDiffForm(
                wanted or {"old": versions[1].number, "new": versions[0].number}, versions=versions
            )
            if form.is_valid():
                picked = runbook.versions.select_related("created_by").filter(
                    number__in=(form.cleaned_data["old"], form.cleaned_data["new"])
                )
                by_number = {version.number: version for version in picked}
                old, new = by_number[form.cleaned_data["old"]], by_number[form.cleaned_data["new"]]
                diff = playbook_diff(old.content, new.content)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Compare versions of {runbook}",
            "runbook": runbook,
            "versions": versions,
            "form": form,
            "diff": diff,
            "old": old,
            "new": new,
            "has_view_permission": True,
        }
        # A choice that names no version of this runbook is the request's fault.
        status = 400 if form is not None and form.is_bound and form.errors else 200
        return TemplateResponse(request, "admin/runbooks/runbook/diff.html", context, status=status)

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
    fields = ("runbook", "number", "checksum", "created_at", "created_by", "changes", "playbook")
    readonly_fields = fields

    class Media:
        js = CODE_EDITOR_MEDIA

    @admin.display(description="playbook")
    def playbook(self, version: RunbookVersion) -> SafeString:
        return code_block(version.content, label=f"Playbook of version {version.number}")

    @admin.display(description="changes")
    def changes(self, version: RunbookVersion) -> SafeString:
        current = version.runbook.current_version_id
        links = [compare_with_previous(self.admin_site, version)]
        if current is not None and current != version.pk and version.runbook.current_version is not None:
            latest = version.runbook.current_version.number
            links.append(
                format_html(
                    '<a href="{}">compare with the current version ({})</a>',
                    diff_url(self.admin_site, version.runbook_id, version.number, latest),
                    latest,
                )
            )
        return format_html(" · ".join(["{}"] * len(links)), *links)

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
