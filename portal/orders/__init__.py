"""Orders: the lifecycle of an order, from submission to outcome.

- ``models``, ``choices``: the order's tables (app label ``portal``) and statuses;
- ``submission``: placing an order (idempotency, the sealed review);
- ``transitions``: the only place an order's status is written;
- ``approvals``, ``fulfilment``, ``execution``, ``recovery``: the moves of
  each stage (deciding, manual work, running on a worker, the sweep);
- ``commands``: the one table of commands an order offers, read by the pages,
  the API and the permission rules;
- ``selectors``, ``permissions``: who sees what, who may do what;
- ``tasks``: the Celery tasks, thin, with their historic names.

May import: ``squads``, ``runbooks``, ``catalogue``, the project shell
(``portal.celery``, settings) and the portal's shared domains
(``portal.notifications``, ``portal.webhooks``). Never a face
(``portal.pages``, ``portal.api``, ``portal.views``). Only ``tasks`` touches
``portal.insights``: the task that runs the sweep records its counters, so
that no service of the domain imports insights (which only reads orders).
"""
