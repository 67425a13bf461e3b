"""Consumption: who consumes what, within which limits.

- ``models``: business units (the consuming organisations, their members
  and cost centre) and their quotas per product (app label ``portal``);
- ``services``: curating units and quotas, choosing the unit an order is
  for, and the quota check of a placement (registered with
  ``portal.orders.hooks``);
- ``selectors``, ``permissions``: the units a person belongs to, the usage
  against quotas they may see.

May import: ``squads``, ``runbooks``, ``catalogue``, the order domain and
the instance domain (it counts their rows). Neither of those imports this
one: orders and instances name the business unit by label only.
"""
