from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # The instance domain hooks into the orders' moves and runs: in every
        # process (web, worker, beat, commands) before any order moves.
        from portal.instances.lifecycle import register

        register()
