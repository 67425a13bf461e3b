"""Admin of the choice lists squads curate for their forms
(``x-choices-from: {squad_list: <slug>}``).

Kept apart from ``catalogue.admin`` (products and operations); registered
from ``portal.admin``, which imports the admin modules beside the autodiscovered ones.
"""

from __future__ import annotations

from django.contrib import admin

from catalogue.models import ChoiceItem, ChoiceList
from squads.admin_mixins import SquadOwnedAdmin


class ChoiceItemInline(admin.TabularInline):
    model = ChoiceItem
    extra = 1
    fields = ("position", "value", "label")


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
