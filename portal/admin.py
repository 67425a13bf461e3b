"""The admin's autodiscovery imports ``portal.admin``: the portal domains'
admin modules are imported here so they register, and so is the
catalogue's choice lists' (kept out of ``catalogue.admin``)."""

from catalogue import admin_choice_lists  # noqa: F401 - registers its admin
from portal.consumption import admin as consumption_admin  # noqa: F401 - registers its admin
from portal.instances import admin as instance_admin  # noqa: F401 - registers its admin
