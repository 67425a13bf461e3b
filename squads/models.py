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
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="chapters", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
