"""The browser face: thin views that read through selectors, change state
only through the domains' services, and render the templates.

``base`` (the HTMX-aware login guard), ``catalogue`` (front page, product
page), ``notifications``, ``tokens`` and ``webhooks`` (the integrations
pages), ``operations`` (favicon, healthz) and ``context_processors`` (the
navigation's counts).

May import the domains, ``portal.web`` and ``portal.forms``; no domain
imports it.
"""
