from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

from squads.choices import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Squad(models.Model):
    """A cross-functional team that owns products end to end: their runbooks,
    their credentials, their outcome and their service quality."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    mission = models.TextField(blank=True)
    # Annotated because the plugin cannot resolve a through model named by a string.
    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="squads", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person's seat in a squad with the role they play there. A person may
    sit in several squads, with one role in each."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    squad = models.ForeignKey(Squad, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.ENGINEER)
    # Granted because an identity provider's group maps to the squad
    # (portal.identity): such a seat follows the person's groups at each
    # login; a seat curated by hand (False) is never touched by a mapping.
    granted_by_mapping = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["squad__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "squad"], name="membership_unique_user_squad"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.squad} as {self.get_role_display()}"


class Chapter(models.Model):
    """A competency group that cuts across squads (all network engineers, all
    DBAs…), led by a chapter lead, so that skills and tools stay shared rather
    than replicated in every squad."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="led_chapters",
    )
    # Annotated because the plugin cannot resolve a through model named by a string.
    members: models.ManyToManyField[User, ChapterMembership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ChapterMembership", related_name="chapters", blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChapterMembership(models.Model):
    """A person's belonging to a chapter. The table is the one Django made for
    the plain many-to-many it was before (``squads_chapter_members``), now
    with where the membership came from."""

    chapter = models.ForeignKey(Chapter, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chapter_memberships"
    )
    # As Membership.granted_by_mapping: follows the person's groups, or curated by hand.
    granted_by_mapping = models.BooleanField(default=False)

    class Meta:
        db_table = "squads_chapter_members"
        unique_together = [("chapter", "user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.chapter}"
