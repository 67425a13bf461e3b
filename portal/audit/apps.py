from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail lives inside the portal package with its own app label,
    models and migrations, like identity and insights."""

    name = "portal.audit"
    label = "audit"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connected in every process (web, worker, beat, commands) before
        # anything audited can change.
        from portal.audit import receivers, tracking

        tracking.connect()
        receivers.connect()
