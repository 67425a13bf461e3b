"""The browser face: thin views over the domains' services and selectors.

A view reads through selectors and changes state only through a domain's
services; a refused action shows the service's message and has changed
nothing (the service guarantees that). May import the domains and
``portal.web``-style shared helpers; no domain imports a page.
"""
