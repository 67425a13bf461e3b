from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # The instance domain hooks into the orders' moves and runs: in every
        # process (web, worker, beat, commands) before any order moves.
        from catalogue.importing.sections import section_register
        from portal.consumption.catalogue_file import BusinessUnitsSection
        from portal.consumption.quotas import quota_admission, unit_handover
        from portal.identity.catalogue_file import GroupMappingsSection
        from portal.instances import form_choices
        from portal.instances.hooks import instance_handover_register
        from portal.instances.lifecycle import register
        from portal.integrations.webhooks import outbound
        from portal.orders.hooks import order_admission_register

        register()
        # Order forms offer the requester's instances and fetch URL choices
        # through the webhooks' SSRF guard (the catalogue imports neither).
        form_choices.register()
        outbound.register()
        # Every placement finds its business unit and checks its quotas.
        order_admission_register("consumption", quota_admission)
        # An instance that changes hands is charged to its new owner's unit.
        instance_handover_register("consumption", unit_handover)
        # The catalogue file carries business units (the catalogue cannot import them).
        section_register(BusinessUnitsSection())
        # And group mappings, after the units they may name.
        section_register(GroupMappingsSection())
