from django.contrib.admin.apps import AdminConfig


class SquadronAdminConfig(AdminConfig):
    """Replaces Django's default admin site with ``SquadronAdminSite``."""

    default_site = "portal.admin_site.SquadronAdminSite"
