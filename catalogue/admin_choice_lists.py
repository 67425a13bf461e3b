"""Admin of the choice lists squads curate for their forms
(``x-choices-from: {squad_list: <slug>}``).

Kept apart from ``catalogue.admin`` (products and operations); registered
from ``portal.admin``, which imports the admin modules beside the autodiscovered ones.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst

from catalogue.dynamic_choices import MAX_CHOICES, forms_naming_lists
from catalogue.models import ChoiceItem, ChoiceList
from catalogue.services import choice_lists_delete
from squads.admin_mixins import GovernedByParentInline, SquadOwnedAdmin


class ChoiceItemInline(GovernedByParentInline, admin.TabularInline):
    model = ChoiceItem
    extra = 1
    # Every form choosing from the list shows them all, other squads' too.
    max_num = MAX_CHOICES
    fields = ("position", "value", "label")
    verbose_name = "option"
    verbose_name_plural = "options"

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        # max_num alone only stops the page adding rows: a crafted POST may
        # send more, unless the formset checks it.
        return super().get_formset(request, obj, validate_max=True, **kwargs)


@admin.register(ChoiceList)
class ChoiceListAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """A squad's list of options; forms name it by slug."""

    list_display = ("name", "slug", "squad", "item_count")
    list_filter = (("squad", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("squad",)
    search_fields = ("name", "slug", "items__value", "items__label")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "squad", "description")
    inlines = (ChoiceItemInline,)

    @admin.display(description="options")
    def item_count(self, choice_list: ChoiceList) -> int:
        return choice_list.items.count()

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A list a form chooses from is protected by that form: the admin's
        # own confirmation page names it and deletes nothing.
        uses = forms_naming_lists({choice_list.slug for choice_list in objs})
        return deleted, counts, perms_needed, [*protected, *(capfirst(str(use)) for use in uses)]

    def delete_model(self, request: HttpRequest, obj: ChoiceList) -> None:
        choice_lists_delete(choice_lists=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChoiceList]) -> None:
        choice_lists_delete(choice_lists=queryset)
