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
(``portal.celery``, ``portal.task_signing``, settings) and the domains it
tells of a move (``portal.notifications``, ``portal.integrations``). Never
a face (``portal.pages``, ``portal.api``), ``portal.web`` or
``portal.insights``: the task that runs the sweep and records the insights'
counters lives in the shell's ``portal.tasks``.
"""
