"""Admin of squads, memberships and chapters.

Who sits in which squad decides everything a person may curate, so only
superusers change it; members may read their own squads (read-only) and
nothing else here. Squads, memberships and chapters are written through
``squads.services``, the path the catalogue import takes too; deleting them
is the admin's alone and stays Django's.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Model, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from squads.admin_mixins import SquadOwnedAdmin, SuperuserCuratedAdmin, is_superuser, may_enter
from squads.models import Chapter, ChapterMembership, Membership, Squad
from squads.selectors import can_curate
from squads.services import (
    chapter_create,
    chapter_update,
    membership_create,
    membership_update,
    squad_create,
    squad_update,
)


def _adopt(obj: Model, saved: Model) -> None:
    """Make ``obj`` the row a create service saved: Django's add view goes on
    with the object it gave ``save_model`` (for the inlines, the log entry and
    the redirect), so it must carry the new row's id and state."""
    obj.__dict__.update(saved.__dict__)


def _save_membership(membership: Membership) -> None:
    """Save a membership as the admin's form filled it in."""
    if membership.pk is None:
        _adopt(
            membership,
            membership_create(squad=membership.squad, user=membership.user, role=membership.role),
        )
    else:
        membership_update(
            membership=membership, squad=membership.squad, user=membership.user, role=membership.role
        )


class MembershipInline(admin.TabularInline):
    """The members of a squad with their roles, on the squad's page."""

    model = Membership
    extra = 0
    fields = ("user", "role", "granted_by_mapping", "joined_at")
    # A seat added here is curated by hand; one a group mapping granted says so.
    readonly_fields = ("granted_by_mapping", "joined_at")

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

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_superuser(request)

    def save_model(self, request: HttpRequest, obj: Squad, form: ModelForm, change: bool) -> None:
        if change:
            squad_update(squad=obj, slug=obj.slug, name=obj.name, mission=obj.mission)
        else:
            _adopt(obj, squad_create(slug=obj.slug, name=obj.name, mission=obj.mission))

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        """The members inline: removed seats first (as Django orders it, so
        that a person can leave and come back in one save), then the rest."""
        memberships = formset.save(commit=False)
        for membership in formset.deleted_objects:
            membership.delete()
        for membership in memberships:
            _save_membership(membership)


@admin.register(Membership)
class MembershipAdmin(SuperuserCuratedAdmin, admin.ModelAdmin):
    """Seats in squads, across all squads: for superusers only."""

    list_display = ("user", "squad", "role", "granted_by_mapping", "joined_at")
    list_filter = ("role", "granted_by_mapping", "squad")
    search_fields = ("user__username", "user__email", "squad__name", "squad__slug")
    list_select_related = ("user", "squad")
    readonly_fields = ("granted_by_mapping", "joined_at")

    def save_model(self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool) -> None:
        _save_membership(obj)


class ChapterMembershipInline(admin.TabularInline):
    """The chapter's members; those a group mapping granted say so. The
    chapter admin is for superusers only (``SuperuserCuratedAdmin``)."""

    model = ChapterMembership
    extra = 0
    fields = ("user", "granted_by_mapping")
    readonly_fields = ("granted_by_mapping",)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_superuser(request)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_superuser(request)


@admin.register(Chapter)
class ChapterAdmin(SuperuserCuratedAdmin, admin.ModelAdmin):
    """Competency groups across squads: for superusers only."""

    list_display = ("name", "slug", "lead")
    search_fields = ("name", "slug", "description")
    list_select_related = ("lead",)
    prepopulated_fields = {"slug": ("name",)}
    inlines = (ChapterMembershipInline,)

    def save_model(self, request: HttpRequest, obj: Chapter, form: ModelForm, change: bool) -> None:
        if change:
            chapter_update(
                chapter=obj, slug=obj.slug, name=obj.name, description=obj.description, lead=obj.lead
            )
        else:
            _adopt(
                obj, chapter_create(slug=obj.slug, name=obj.name, description=obj.description, lead=obj.lead)
            )
