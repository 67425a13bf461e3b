"""Load the demo catalogue and make its people able to log in (development).

``make run`` calls this on every start; it is idempotent. It never resets a
password somebody already set, and it refuses to run with DEBUG off: a known
demo password has no place in production.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from catalogue.importer import CatalogueFileError, import_catalogue
from squads.models import Membership

DEMO_FILE = Path(settings.BASE_DIR) / "catalogue" / "demo" / "catalogue.yaml"
DEMO_PASSWORD = "squadron-demo"  # noqa: S105 - development-only, refused with DEBUG off
#: Business users: full name, and what they are for in the demo.
BUSINESS_USERS = {
    "bea": ("Bea Fischer", "orders products for Finance (a clean slate for the tour)"),
    "ben": ("Ben Osei", "orders for Finance or Logistics (he picks); the demo's order history is his"),
}

#: The squads' people in the demo catalogue (which names users by username
#: only): pages, timelines and emails read better with names, and the console
#: email backend shows whom each notification goes to.
SQUAD_PEOPLE = {
    "chloe": "Chloe Martin",
    "diego": "Diego Alvarez",
    "elena": "Elena Rossi",
    "farah": "Farah Haddad",
    "hana": "Hana Sato",
    "ines": "Ines Duarte",
    "jonas": "Jonas Berg",
    "liam": "Liam Walsh",
    "marcus": "Marcus Reed",
    "nora": "Nora Lind",
    "omar": "Omar Nasser",
    "priya": "Priya Raman",
    "sam": "Sam Okafor",
}


class Command(BaseCommand):
    help = "Load the demo catalogue, create demo users and print their logins (DEBUG only)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "load_demo creates users with a known password; it refuses to run with DEBUG off."
            )
        try:
            import_catalogue(DEMO_FILE, dry_run=False)
        except CatalogueFileError as error:
            raise CommandError(f"The demo catalogue is invalid:\n{error}") from None
        users = get_user_model()
        with transaction.atomic():
            _admin, _ = users.objects.get_or_create(
                username="admin",
                defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"},
            )
            for username, (full_name, _) in BUSINESS_USERS.items():
                first, last = full_name.split(" ", 1)
                users.objects.get_or_create(
                    username=username,
                    defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
                )
            demo_users = users.objects.filter(
                username__in=[
                    "admin",
                    *BUSINESS_USERS,
                    *Membership.objects.values_list("user__username", flat=True),
                ]
            )
            for user in demo_users:
                self._name(user)
                # A user made by get_or_create above has an empty password,
                # which Django counts as "usable" yet nothing matches it.
                if not user.password or not user.has_usable_password():
                    user.set_password(DEMO_PASSWORD)
                    user.save(update_fields=["password"])
        self._print_logins()

    @staticmethod
    def _name(user: AbstractUser) -> None:
        """Fill in a demo person's name and address, never overwriting what
        somebody has set since."""
        # The catalogue names business unit members too: they exist before
        # get_or_create above, without a name.
        full_name = SQUAD_PEOPLE.get(user.username) or BUSINESS_USERS.get(user.username, ("",))[0]
        changed = []
        if full_name and not (user.first_name or user.last_name):
            user.first_name, user.last_name = full_name.split(" ", 1)
            changed += ["first_name", "last_name"]
        if not user.email:
            user.email = f"{user.username}@example.com"
            changed.append("email")
        if changed:
            user.save(update_fields=changed)

    def _print_logins(self) -> None:
        roles: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for membership in Membership.objects.select_related("user", "squad"):
            names[membership.user.username] = membership.user.get_full_name()
            roles.setdefault(membership.user.username, []).append(
                f"{membership.get_role_display()}, {membership.squad.name}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"\nDemo logins (password '{DEMO_PASSWORD}' unless you changed it):")
        )
        self.stdout.write("  admin      superuser: sees and changes everything")
        for username, (_, purpose) in BUSINESS_USERS.items():
            self.stdout.write(f"  {username:<10} business user: {purpose}")
        for username in sorted(roles):
            name = f"{names[username]}: " if names[username] else ""
            self.stdout.write(f"  {username:<10} {name}{'; '.join(roles[username])}")
        self.stdout.write("")
