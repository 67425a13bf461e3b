"""Admin of squads, memberships and chapters.

Who sits in which squad decides everything a person may curate, so only
superusers change it; members may read their own squads (read-only) and
nothing else here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from squads.admin_mixins import SquadOwnedAdmin, SuperuserCuratedAdmin, is_superuser, may_enter
from squads.models import Chapter, Membership, Squad
from squads.selectors import can_curate


class MembershipInline(admin.TabularInline):
    """The members of a squad with their roles, on the squad's page."""

    model = Membership
    extra = 0
    fields = ("user", "role", "joined_at")
    readonly_fields = ("joined_at",)

    def has_view_permission(self, request: HttpRequest, obj: Squad | None = None) -> bool:
        # ``obj`` is the squad: its members may see who they work with.
        # Without one (Django asks so when it builds the rows' queryset) the
        # squad admin has already decided who gets this far.
        if obj is None:
            return may_enter(request)
        return can_curate(request.user, obj.pk)

    def has_add_permission(self, request: HttpRequest, obj: Squad | None = None) -> bool:
        return is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Squad | None = None) -> bool:
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Squad | None = None) -> bool:
        return is_superuser(request)


@admin.register(Squad)
class SquadAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """Superusers manage squads; a member sees their own squads read-only."""

    squad_lookup = "pk"
    list_display = ("name", "slug", "member_count", "updated_at")
    search_fields = ("name", "slug", "mission")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "mission", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")
    inlines = (MembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Squad]:
        return super().get_queryset(request).annotate(member_total=Count("memberships"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, squad: Any) -> int:
        return squad.member_total

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Squad | None = None) -> bool:
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Squad | None = None) -> bool:
        return is_superuser(request)


@admin.register(Membership)
class MembershipAdmin(SuperuserCuratedAdmin, admin.ModelAdmin):
    """Seats in squads, across all squads: for superusers only."""

    list_display = ("user", "squad", "role", "joined_at")
    list_filter = ("role", "squad")
    search_fields = ("user__username", "user__email", "squad__name", "squad__slug")
    list_select_related = ("user", "squad")
    readonly_fields = ("joined_at",)


@admin.register(Chapter)
class ChapterAdmin(SuperuserCuratedAdmin, admin.ModelAdmin):
    """Competency groups across squads: for superusers only."""

    list_display = ("name", "slug", "lead")
    search_fields = ("name", "slug", "description")
    list_select_related = ("lead",)
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("members",)
