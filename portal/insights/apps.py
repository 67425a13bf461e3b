from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Squad insights live inside the portal package but keep their own app
    label, models and migrations, so they depend on the portal and never the
    other way round."""

    name = "portal.insights"
    label = "insights"
    verbose_name = "Insights and technical debt"
    default_auto_field = "django.db.models.BigAutoField"
