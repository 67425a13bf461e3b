"""``python manage.py create_api_token USERNAME [--name NAME] [--expires-days N]``

For operators and scripts: the new key is printed alone on the last line, so
``KEY=$(manage.py create_api_token bob | tail -n 1)`` works.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.integrations.tokens import TokenError, token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (last line). It is shown only this once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="created by create_api_token", help="What the token is for.")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="Days until the token expires (default: never)."
        )

    def handle(self, *args: Any, username: str, name: str, expires_days: int | None, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}; create the user first.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; a token for them would not work.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        expires_in = timedelta(days=expires_days) if expires_days is not None else None
        try:
            issued = token_create(user=user, name=name, expires_in=expires_in)
        except TokenError as error:
            raise CommandError(str(error)) from None
        expiry = issued.token.expires_at.isoformat() if issued.token.expires_at else "never"
        self.stderr.write(
            f"Token {issued.token.prefix}… {issued.token.name!r} for {username}, expires {expiry}. "
            "Store it now: it cannot be shown again."
        )
        self.stdout.write(issued.key)
