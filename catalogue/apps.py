from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "catalogue"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        # The lists squads curate for their forms travel in the catalogue file.
        from catalogue.importing.choice_lists import ChoiceListsSection
        from catalogue.importing.sections import section_register

        section_register(ChoiceListsSection())
