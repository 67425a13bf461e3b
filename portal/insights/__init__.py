"""Squad insights: service quality, automation, load, cross-squad
dependencies, duplicated tooling and technical debt, computed in the database.

The article behind Squadron names three risks of product-aligned IT: people
and tools replicated across squads, squads that depend on each other falling
out of step, and technical debt piling up behind fast iterations. This
package turns each into numbers a squad can act on, for the squad dashboard,
the leads' overview, the API and Prometheus.

Every selector takes the clock (``now``) or a ``Period`` as a parameter, so
tests build a known history and assert exact figures.
"""
