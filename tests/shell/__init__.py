"""Tests of the project shell: settings and environment variables
(portal/settings.py, portal/env.py), the database and broker they configure,
and what `make run` starts."""
