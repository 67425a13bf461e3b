"""Service instances: what a succeeded order made, owned by its requester,
changed by its product's day-2 operations until it is decommissioned.

- ``models``, ``choices``: the instance, its history (app label ``portal``),
  its states;
- ``lifecycle``: the only writer of an instance's state, driven by the
  orders against it (registered with ``portal.orders.hooks``);
- ``report``, ``attributes``: what runbooks report with ``set_stats`` and
  how attributes are stored (secrets encrypted, masked when shown);
- ``dependencies``: which instances need which (reported by runbooks), as
  each viewer may see them;
- ``services``: ordering an operation, expiry (reminders, decommissioning);
- ``transfers``: an owner offers an instance to someone, who accepts
  (becoming its owner) or declines; the owner may withdraw the offer;
- ``selectors``, ``permissions``: who sees what, who may do what;
- ``tasks``: the expiry task beat runs.

May import: ``squads``, ``runbooks``, ``catalogue``, the order domain and
the domains it tells (``portal.notifications``, ``portal.integrations``).
The order domain never imports this one.
"""
