from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Identity lives inside the portal package with its own app label, models
    and migrations, like insights."""

    name = "portal.identity"
    label = "identity"
    verbose_name = "Logins"
    default_auto_field = "django.db.models.BigAutoField"
