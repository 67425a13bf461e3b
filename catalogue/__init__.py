"""The catalogue: categories, products and their approval steps, order-form
schemas and their checks, publishing, and catalogue as code (``importer``,
the face over the ``importing`` package, and ``exporter``).

May import ``runbooks`` and ``squads``; never ``portal``.
"""
