"""The REST API (``/api/v1/``): thin DRF views over the same services and
selectors the browser uses, so both always agree.

One module per resource, serializers beside their views: ``me``,
``catalogue`` (products, squads, runbooks), ``webhooks`` (webhooks and their
deliveries), ``metrics`` (squads' and products' numbers), and the orders
(``views``, ``serializers``). What they share: ``base`` (the view mixin,
filters, JSON 404 and 500), ``base_serializers`` (date-times, the error
body, strict request bodies), ``pagination``, ``filtersets``, ``errors``,
``parsers``, ``schema``, ``authentication`` and ``throttling``.

May import the domains and ``portal.web``; no domain imports it.
"""
