"""Runbooks: versioned playbooks owned by squads, the credentials they use
(encrypted at rest), and runs with their events. ``execution/`` runs a
playbook through ansible-runner in its sandbox and records the run.

Runbooks know nothing of orders or products: may import ``squads``; never
``catalogue`` or ``portal``.
"""
