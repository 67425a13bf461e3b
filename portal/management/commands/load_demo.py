"""Load the demo catalogue and make its people able to log in (development).

``make run`` calls this on every start; it is idempotent. It never resets a
password somebody already set, and it refuses to run with DEBUG off: a known
demo password has no place in production.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from catalogue.importer import CatalogueFileError, import_catalogue
from squads.models import Membership

DEMO_FILE = Path(settings.BASE_DIR) / "catalogue" / "demo" / "catalogue.yaml"
DEMO_PASSWORD = "squadron-demo"  # noqa: S105 - development-only, refused with DEBUG off
#: Business users: full name, and what they are for in the demo.
BUSINESS_USERS = {
    "bea": ("Bea Fischer", "orders products (a clean slate for the tour)"),
    "ben": ("Ben Osei", "orders products; the demo's order history is his"),
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
            admin, _ = users.objects.get_or_create(
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
                # A user made by get_or_create above has an empty password,
                # which Django counts as "usable" yet nothing matches it.
                if not user.password or not user.has_usable_password():
                    user.set_password(DEMO_PASSWORD)
                    user.save(update_fields=["password"])
        self._print_logins()

    def _print_logins(self) -> None:
        roles: dict[str, list[str]] = {}
        for membership in Membership.objects.select_related("user", "squad"):
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
            self.stdout.write(f"  {username:<10} {'; '.join(roles[username])}")
        self.stdout.write("")
