"""Admin where squads curate their products; superusers keep the categories.

Publishing, retiring and version bumps go through ``catalogue.services``;
validation is ``Product.clean`` and ``validate_dependencies``. The admin
only wires them to pages and reports their messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse

from catalogue.admin_publish import publish_confirmation
from catalogue.checks import product_warnings
from catalogue.choices import ApprovalPolicy
from catalogue.forms import OperationForm, ProductForm
from catalogue.models import ApprovalStep, Category, Operation, Product
from catalogue.services import CatalogueError, product_changed, product_publish, product_retire
from squads.admin_mixins import GovernedByParentInline, SquadOwnedAdmin, SuperuserCuratedAdmin
from squads.choices import Role
from squads.selectors import squad_ids_of, step_approvers


@admin.register(Category)
class CategoryAdmin(SuperuserCuratedAdmin, admin.ModelAdmin):
    """The catalogue's shelves: superusers arrange them, squads file under them."""

    members_may_view = True
    list_display = ("name", "slug", "position")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class ApprovalStepFormSet(forms.BaseInlineFormSet):
    """The steps of a multi-step policy; at least one when that is the policy."""

    def clean(self) -> None:
        super().clean()
        policy = self.data.get("approval_policy", self.instance.approval_policy)
        kept = [
            form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if policy == ApprovalPolicy.STEPS and not kept:
            raise forms.ValidationError("A multi-step approval needs at least one step.")
        if policy != ApprovalPolicy.STEPS:
            return
        positions: set[int] = set()
        for form in kept:
            position = form.cleaned_data.get("position")
            if position in positions:
                form.add_error("position", "Another step has this position: give each step its own.")
            positions.add(position)
            self._check_reachable(form)

    def _check_reachable(self, form: forms.Form) -> None:
        """A step needing more approvals than there are people to give them
        would keep every order waiting forever: refuse it while it is edited."""
        data = form.cleaned_data
        required = data.get("required_approvals") or 1
        chapter, squad = data.get("chapter"), data.get("squad")
        squad_id = squad.pk if squad is not None else (self.data.get("squad") or self.instance.squad_id)
        people = step_approvers(
            squad_id=squad_id or None,
            roles=data.get("roles") or (),
            chapter_id=chapter.pk if chapter is not None else None,
        ).count()
        if required > people:
            form.add_error(
                "required_approvals",
                f"Only {people} {'person' if people == 1 else 'people'} can approve this step "
                f"now; it needs {required}, so every order would wait forever.",
            )


class ApprovalStepForm(forms.ModelForm):
    """Roles as choices to tick, not JSON to type."""

    roles = forms.MultipleChoiceField(
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Roles in the squad (the one named, or the product's own) that may approve. "
        "Name a squad, a chapter or at least one role. Not used for a chapter.",
    )

    class Meta:
        model = ApprovalStep
        fields = ("position", "name", "squad", "chapter", "roles", "required_approvals")


class ApprovalStepInline(GovernedByParentInline, admin.TabularInline):
    """Who approves, step by step (used when the policy is multi-step).

    Any squad or chapter may be named as approvers: a product may need
    another squad's or a chapter's agreement. The step belongs to the
    product, so the product's own permissions govern it."""

    model = ApprovalStep
    form = ApprovalStepForm
    formset = ApprovalStepFormSet
    extra = 0
    fields = ("position", "name", "squad", "chapter", "roles", "required_approvals")
    ordering = ("position", "id")


class OperationInline(GovernedByParentInline, admin.TabularInline):
    """A product's day-2 operations (instance products only); their form and
    approval steps are edited on the operation's own page (the link)."""

    model = Operation
    form = OperationForm
    extra = 0
    fields = ("position", "slug", "name", "kind", "runbook", "approval_policy", "sla_minutes")
    ordering = ("position", "name")
    show_change_link = True

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if (
            db_field.name == "runbook"
            and formfield is not None
            and formfield.queryset is not None
            and not request.user.is_superuser
        ):
            # Only the user's squads' runbooks (the model refuses another squad's anyway).
            formfield.queryset = formfield.queryset.filter(squad_id__in=squad_ids_of(request.user))
        return formfield


@admin.register(Operation)
class OperationAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """One operation with its form and its approval steps, curated by the
    product's squad."""

    form = OperationForm
    squad_lookup = "product__squad"
    scoped_relations = {"product": "squad", "runbook": "squad"}
    list_display = ("name", "product", "kind", "runbook", "approval_policy", "sla_minutes")
    list_filter = ("kind", "approval_policy")
    list_select_related = ("product", "runbook")
    search_fields = ("name", "slug", "product__name", "product__slug")
    inlines = (ApprovalStepInline,)

    class Media:
        # The product page's form designer, over the operation's form.
        css = {"all": ("css/admin-designer.css",)}
        js = ("js/admin-designer.js",)


@admin.register(Product)
class ProductAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """A squad's products. Status changes only through the publish / retire
    actions, which apply the publishing rules of ``catalogue.services``."""

    form = ProductForm
    list_display = ("name", "squad", "category", "status", "fulfilment", "runbook", "version")
    list_filter = (
        "status",
        "fulfilment",
        "approval_policy",
        "category",
        ("squad", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("squad", "category", "runbook")
    search_fields = ("name", "slug", "summary", "tags")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("depends_on",)
    readonly_fields = ("status", "version", "created_at", "updated_at")
    actions = ("publish_selected", "retire_selected")
    inlines = (ApprovalStepInline, OperationInline)
    fieldsets = (
        (None, {"fields": ("name", "slug", "squad", "category", "summary", "description", "tags")}),
        ("Fulfilment", {"fields": ("fulfilment", "runbook", "sla_minutes", "unit_cost")}),
        (
            "Instances",
            {
                "fields": ("instance", "max_lifetime_days"),
                "description": "A product that creates instances lists its day-2 operations below.",
            },
        ),
        (
            "Approval",
            {
                "fields": (
                    "approval_policy",
                    "approval_remind_after_hours",
                    "approval_escalate_after_hours",
                ),
                "description": "With a multi-step policy, list the steps below; they open in order.",
            },
        ),
        ("Order form", {"fields": ("form_schema",)}),
        ("Dependencies", {"fields": ("depends_on",)}),
        ("Lifecycle", {"fields": ("status", "version", "created_at", "updated_at")}),
    )

    class Media:
        # The form designer and live preview over the JSON box (which keeps
        # working alone without script).
        css = {"all": ("css/admin-designer.css",)}
        js = ("js/admin-designer.js",)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        product = self.get_object(request, object_id)
        checked = product is not None and product.runbook is not None and product.runbook.current_version
        context = {"form_warnings": product_warnings(product) if checked and product else None}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # After the many-to-many fields are saved, so that a change of
        # dependencies alone also counts as a new definition of the product.
        if change and form.has_changed():
            product_changed(product=form.instance)

    @admin.action(description="Publish selected products", permissions=["change"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Product]) -> HttpResponse | None:
        """Publish, after the curator has seen what does not fit: products
        whose form and playbook disagree are listed on a page of their own,
        and published only once confirmed there."""
        if request.POST.get("confirmed") != "yes":
            page = publish_confirmation(self, request, queryset)
            if page is not None:
                return page
        self._change_status(request, queryset, product_publish, "published")
        return None

    @admin.action(description="Retire selected products", permissions=["change"])
    def retire_selected(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        self._change_status(request, queryset, product_retire, "retired")

    def _change_status(
        self,
        request: HttpRequest,
        queryset: QuerySet[Product],
        service: Callable[..., Product],
        done_word: str,
    ) -> None:
        """Apply ``service`` to each product on its own, so one product that
        is not ready does not stop the others; say per product why not."""
        done: list[str] = []
        for product in queryset.select_related("runbook"):
            # The queryset is already limited to the user's squads; checking
            # each object again keeps an action safe if that ever changes.
            if not self.has_change_permission(request, product):
                continue
            try:
                service(product=product)
            except ValidationError as error:
                reason = " ".join(error.messages)
                self.message_user(request, f"{product} was not {done_word}: {reason}", messages.ERROR)
            except CatalogueError as error:
                self.message_user(request, f"{product} was not {done_word}: {error}", messages.ERROR)
            else:
                self.log_change(request, product, f"Status {done_word}.")
                done.append(str(product))
        if done:
            self.message_user(
                request, f"{len(done)} product(s) {done_word}: {', '.join(done)}.", messages.SUCCESS
            )
