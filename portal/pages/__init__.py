"""The browser face: thin views over the domains' services and selectors.

A view reads through selectors and changes state only through a domain's
services; a refused action shows the service's message and has changed
nothing (the service guarantees that). ``base`` (the HTMX-aware login
guard), ``catalogue`` (front page, product page), ``ordering`` (form,
review, place), ``orders`` (an order's pages and commands), ``work``
(approvals inbox, manual queue), ``notifications``, ``tokens`` and
``webhooks`` (the integrations pages), ``login`` (password, code, lock-out
page) and ``account`` (two-step login), ``operations`` (favicon, healthz, readyz),
``forms`` and ``context_processors`` (the navigation's counts).

May import the domains and ``portal.web``; no domain imports a page.
"""
