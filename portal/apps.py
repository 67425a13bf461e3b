from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # The instance domain hooks into the orders' moves and runs: in every
        # process (web, worker, beat, commands) before any order moves.
        from catalogue.importing.sections import section_register
        from portal.consumption.catalogue_file import BusinessUnitsSection
        from portal.consumption.quotas import quota_admission
        from portal.instances.lifecycle import register
        from portal.orders.hooks import order_admission_register

        register()
        # Every placement finds its business unit and checks its quotas.
        order_admission_register("consumption", quota_admission)
        # The catalogue file carries business units (the catalogue cannot import them).
        section_register(BusinessUnitsSection())
