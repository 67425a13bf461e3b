from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Identity lives inside the portal package with its own app label, models
    and migrations, like insights."""

    name = "portal.identity"
    label = "identity"
    verbose_name = "Logins"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.identity.mapping import on_groups_seen
        from portal.identity.signals import groups_seen

        # Every login through an identity provider brings its memberships in line with the groups.
        groups_seen.connect(on_groups_seen, dispatch_uid="identity.sync_memberships")
