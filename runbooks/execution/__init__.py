"""The ansible-runner executor: how one run of a runbook version is carried out.

- ``run``: ``execute_run``, the run from claim to record (the worker's one call);
- ``workspace``: the run's private data dir and its files, the environment a
  playbook gets, the cleanup of dirs that lost runs left, worker liveness;
- ``credentials``: a runbook's credentials turned into what a playbook gets;
- ``events``: ansible-runner's events recorded, masked and trimmed, in batches;
- ``reasons``: why a run failed, from Ansible's messages, in words a requester reads;
- ``supervision``: heartbeat, cancel, and the stop on a database outage;
- ``sandbox``: the bubblewrap sandbox and the resource limits of every run;
- ``masking``: secret values kept out of everything a run stores or logs.

Callers import from the module that defines what they need. This package may
import ``runbooks`` (models, services, selectors, choices, crypto, extravars),
Django and ansible-runner; never ``catalogue`` or ``portal``: it runs a
playbook and records the run, and knows nothing of orders.
"""
