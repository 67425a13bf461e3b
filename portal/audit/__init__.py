"""The audit trail: who changed what, when, from where, before and after.

Every package says what changed through ``squads.audit.record()`` (the
lowest package, so all may); saves and deletes of the audited models are
seen here without their code saying anything (``tracking``). This domain
stores each change as an ``AuditEntry``, with the actor and client address
of the request, task or command it happened in (``context``). Entries are
never changed or deleted.

A domain above the others (it reads their models to watch them and the
identity's client address), below what shows it (pages, api).
"""
