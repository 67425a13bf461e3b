"""Squads: teams, their memberships and roles, chapters across squads, and
the ownership rules every app asks (``selectors``), with the writes the admin
and the catalogue import share (``services``).

At the bottom of the dependencies: imports Django only, never ``runbooks``,
``catalogue`` or ``portal`` (the admin mixins name their relations by string).
"""
