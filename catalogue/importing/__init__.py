"""Catalogue as code, stage by stage: the import that ``catalogue.importer``
fronts (its docstring tells the whole story), cut along its four stages.

- ``parse``: the file into specs (with ``document`` for the YAML and the
  playbook files, ``values`` for the checks of single values);
- ``resolve``: references against the file and the database, approvers,
  dependency cycles;
- ``plan``: field-by-field changes, one step per row;
- ``write``: one transaction through the apps' services.

``specs``, ``errors`` and ``report`` hold what the stages hand to one
another. The package may import ``catalogue``'s models, selectors and
services and those of ``runbooks`` and ``squads``; never ``portal``. Callers
outside the catalogue use ``catalogue.importer``; the exporter reads the file
format's keys from ``specs``.
"""
