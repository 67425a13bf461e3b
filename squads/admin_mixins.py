"""Ownership, not Django model permissions, decides what a user may do in the admin.

Squadron's admin site (``portal.admin_site``) lets every squad member in, so
each ModelAdmin must narrow what that member sees and may change to what
*their* squads own. Django's model permissions (``add_product``…) are not
consulted at all: granting them would otherwise let one squad edit another's
products, which is exactly what DESIGN.md forbids.

This module lives in ``squads`` because ownership is a squad rule; it names
related fields by string so that it does not import the apps that depend on
``squads`` (``runbooks``, ``catalogue``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.forms import Field as FormField
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.http import HttpRequest

from squads.selectors import can_curate, is_any_squad_member, squad_ids_of

if TYPE_CHECKING:
    # The mixins are combined with ``admin.ModelAdmin`` in each app's admin;
    # typing them as ModelAdmin subclasses lets ``super()`` calls type-check.
    _ModelAdminBase = admin.ModelAdmin
else:
    _ModelAdminBase = object


def signed_in_user(request: HttpRequest) -> User:
    """The user of an admin request, as the services take them: the admin
    lets nobody else in, which this checks again rather than assumes."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    return user


def is_superuser(request: HttpRequest) -> bool:
    """Whether the request's user is an active superuser (who may do anything)."""
    user = request.user
    return bool(user.is_active and user.is_superuser)


def may_enter(request: HttpRequest) -> bool:
    """Whether the user may see the squad-owned parts of the admin at all:
    active superusers and active members of at least one squad."""
    user = request.user
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser) or is_any_squad_member(user)


class SquadOwnedAdmin(_ModelAdminBase):
    """Limits a ModelAdmin to the objects of the user's squads.

    Use as ``class ProductAdmin(SquadOwnedAdmin, admin.ModelAdmin)``.

    * ``squad_lookup`` is the ORM path from the model to its owning squad
      (``"squad"``, ``"runbook__squad"``, or ``"pk"`` for ``Squad`` itself).
    * ``scoped_relations`` maps a foreign-key or many-to-many field of the
      form to the path from *its* model to the owning squad; the choices of
      those fields are narrowed to what the user's squads own, so a forged
      POST naming another squad's object is refused by the form itself
      ("Select a valid choice") before anything is saved.

    Superusers see and may change everything; members of a squad see and may
    change what their squads own; anybody else gets nothing.
    """

    squad_lookup: str = "squad"
    scoped_relations: Mapping[str, str] = {
        "squad": "pk",
        "runbook": "squad",
        "credentials": "squad",
    }

    # --- Rows -----------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if is_superuser(request):
            return queryset
        if not may_enter(request):
            return queryset.none()
        return queryset.filter(**{f"{self.squad_lookup}__in": squad_ids_of(request.user)})

    def owning_squad_id(self, obj: models.Model) -> int | None:
        """The id of the squad that owns ``obj``, following ``squad_lookup``."""
        *path, last = self.squad_lookup.split("__")
        target: Any = obj
        for step in path:
            target = getattr(target, step, None)
            if target is None:
                return None
        if last in ("pk", "id"):
            return target.pk
        return getattr(target, f"{last}_id", None)

    def may_curate(self, request: HttpRequest, obj: models.Model | None) -> bool:
        """Whether the user may act on ``obj`` (or, without one, on this kind
        of object in general: the changelist, the add page)."""
        if obj is None:
            return may_enter(request)
        return can_curate(request.user, self.owning_squad_id(obj))

    # --- Permissions ----------------------------------------------------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_enter(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.may_curate(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_enter(request)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.may_curate(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.may_curate(request, obj)

    # --- Choices in forms -----------------------------------------------
    def _scope_choices(self, field_name: str, formfield: FormField | None, request: HttpRequest) -> None:
        if formfield is None or is_superuser(request) or field_name not in self.scoped_relations:
            return
        if not isinstance(formfield, ModelChoiceField) or formfield.queryset is None:
            return
        lookup = self.scoped_relations[field_name]
        # Assigning the queryset also resets the widget's choices.
        formfield.queryset = formfield.queryset.filter(**{f"{lookup}__in": squad_ids_of(request.user)})

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        self._scope_choices(db_field.name, formfield, request)
        return formfield

    def formfield_for_manytomany(
        self, db_field: models.ManyToManyField, request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        self._scope_choices(db_field.name, formfield, request)
        return formfield

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """Preselect the squad when the user sits in exactly one: the usual case."""
        # A copy typed for any value: Django's holds strings only (from the query string).
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        if self.squad_lookup == "squad" and "squad" not in initial and not is_superuser(request):
            squad_ids = squad_ids_of(request.user)
            if len(squad_ids) == 1:
                initial["squad"] = next(iter(squad_ids))
        return initial


class SuperuserCuratedAdmin(_ModelAdminBase):
    """Reference data that only superusers add, change and delete (squads,
    chapters, memberships, categories). With ``members_may_view`` squad members
    may read it, e.g. the categories they file their products under.

    Use as ``class CategoryAdmin(SuperuserCuratedAdmin, admin.ModelAdmin)``.
    """

    members_may_view: bool = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return is_superuser(request) or (self.members_may_view and may_enter(request))

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return is_superuser(request)


class GovernedByParentInline(admin.options.InlineModelAdmin):
    """An inline whose rows are part of the object above them (a product's
    approval steps, a list's options): whoever may change that object may
    change them, as its own admin decides. Without this, Django asks for the
    rows' model permissions, which squad members do not hold, and drops the
    inline from their page, saving nothing of it.

    Use first: ``class StepInline(GovernedByParentInline, admin.TabularInline)``.
    """

    def _may(self, request: HttpRequest, obj: models.Model | None) -> bool:
        parent = self.admin_site.get_model_admin(self.parent_model)
        return parent.has_change_permission(request, obj) if obj else parent.has_add_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)
