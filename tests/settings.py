"""Settings for the test suite: the project's settings, isolated per process.

Before the project's settings are read, every test process gets its own var
dir (embedded broker folders, playbook output, run dirs) and its own Celery
queue, so parallel pytest workers and concurrent CI runs never see each
other's messages. Everything else is exactly what production code reads.
"""

import os
import tempfile
import uuid

_SESSION = os.environ.setdefault("SQUADRON_TEST_SESSION", uuid.uuid4().hex[:8])
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["SQUADRON_VAR_DIR"] = tempfile.mkdtemp(prefix=f"squadron-test-{_SESSION}-{_WORKER}-")
os.environ["SQUADRON_DEFAULT_QUEUE"] = f"test-{_SESSION}-{_WORKER}"
os.environ["SQUADRON_WEBHOOK_QUEUE"] = f"test-{_SESSION}-{_WORKER}-webhooks"

from portal.settings import *  # noqa: E402, F403

# Hashing test users' passwords with PBKDF2 costs ~0.3 s each.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not SQLite's in-memory default: end-to-end tests start real
    # Celery worker processes that must see what the test committed.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
else:
    # pytest-django adds the xdist worker's suffix; the session id keeps two
    # suites on one server (two checkouts, a helper's run) from dropping each
    # other's test database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_squadron_{_SESSION}"}  # noqa: F405
