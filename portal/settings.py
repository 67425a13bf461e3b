"""Squadron settings: one module, every value from a typed environment variable.

The defaults are the *embedded* mode (SQLite, a broker that needs no server,
development secrets) so that ``make run`` works on a fresh clone. With
``DEBUG`` off the development secrets are refused: see ``_refuse_dev_secrets``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SQUADRON_VAR_DIR", str(BASE_DIR / "var")) or BASE_DIR / "var")

# --- Secrets and debug ----------------------------------------------------
# These development values are public (they are in git). They are only ever
# acceptable with DEBUG on; production settings refuse them below.
DEV_SECRET_KEY = "DEV-ONLY-insecure-squadron-secret-key-never-use-in-production"  # noqa: S105
DEV_CREDENTIAL_KEY = "DEV-ONLY-insecure-squadron-credential-key"

DEBUG = env_bool("DEBUG", True)
#: With DEBUG on, Django's technical 404 and 500 pages (tracebacks in the
#: browser, unstyled under the CSP) instead of the portal's own.
SQUADRON_TECHNICAL_ERROR_PAGES = env_bool("SQUADRON_TECHNICAL_ERROR_PAGES", False)
# Each secret below (and DATABASE_URL, CELERY_BROKER_URL, CACHE_URL,
# EMAIL_HOST_PASSWORD, SQUADRON_METRICS_TOKEN) may come from a file named by
# NAME_FILE instead (compose's secrets): no process environment then holds it.
SECRET_KEY = env_secret("SECRET_KEY", DEV_SECRET_KEY) or DEV_SECRET_KEY
SQUADRON_CREDENTIAL_KEY = env_secret("SQUADRON_CREDENTIAL_KEY", DEV_CREDENTIAL_KEY) or DEV_CREDENTIAL_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])


def _refuse_dev_secrets() -> None:
    if DEBUG:
        # ``serve`` says it once for the processes it starts: a mark it
        # passes them, not a setting (so not in the README's table).
        said = os.environ.get("SQUADRON_DEV_WARNED") == "1"
        if SECRET_KEY == DEV_SECRET_KEY and "pytest" not in sys.modules and not said:
            sys.stderr.write(
                "WARNING: Squadron runs with DEVELOPMENT secrets (DEBUG on). Never expose this instance.\n"
            )
        return
    problems = []
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        problems.append("SECRET_KEY must be set to a random value of 32+ characters")
    # A comma-separated list during a key rotation: the first key encrypts,
    # the others still decrypt, so each must be a real key.
    credential_keys = [key.strip() for key in SQUADRON_CREDENTIAL_KEY.split(",")]
    if any(key == DEV_CREDENTIAL_KEY or len(key) < 32 for key in credential_keys):
        problems.append(
            "SQUADRON_CREDENTIAL_KEY must be set to a random value of 32+ characters "
            "(each key of a comma-separated list)"
        )
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must list the host names this instance serves")
    if problems:
        raise ImproperlyConfigured("Refusing to start with DEBUG off: " + "; ".join(problems) + ".")


_refuse_dev_secrets()

# --- Applications ---------------------------------------------------------
INSTALLED_APPS = [
    "portal.admin_apps.SquadronAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "squads",
    "runbooks",
    "catalogue",
    "portal",
    "portal.insights",
    "portal.identity",
    "portal.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who uses this browser: a form kept after a session expired is theirs alone.
    "portal.pages.resume.RememberWhoMiddleware",
    # Who acts and from where, for the audit trail: after the user is known.
    "portal.audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.identity.middleware.TwoStepLoginRequiredMiddleware",
    "portal.web.csp.ContentSecurityPolicyMiddleware",
    # Inside the CSP: its pages get the header like every other page.
    "portal.web.errors.OwnErrorPagesMiddleware",
    # Last, as axes asks: it turns a refused login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.pages.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = env_secret("DATABASE_URL", f"sqlite:///{VAR_DIR / 'squadron.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share one file: wait for the lock
    # instead of failing with "database is locked", and let readers go on
    # while a writer works.
    # SQLite cannot create the folder of its file; the embedded default must
    # work from a fresh clone however it is started.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# axes refuses every authentication while an account or an address is locked
# out, before any password is checked: it must come first.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Answers only the OpenID Connect callback, and only when SQUADRON_OIDC_ISSUER is set.
    "portal.identity.oidc.OidcBackend",
]
# LDAP logins need python-ldap, which builds against OpenLDAP's client
# library: `make install` leaves it out where the headers are missing (and
# says so), and Squadron then runs with local accounts. The backend does
# nothing unless SQUADRON_LDAP_SERVER_URI is set (below).
LDAP_INSTALLED = importlib.util.find_spec("ldap") is not None
if LDAP_INSTALLED:
    AUTHENTICATION_BACKENDS.append("portal.identity.ldap.DirectoryBackend")

# --- Single sign-on: OpenID Connect (portal/identity/oidc.py) ----------------
# Off unless an issuer is set: then the login page offers "Sign in with
# SQUADRON_OIDC_NAME" beside the local accounts. The provider's endpoints and
# keys come from ISSUER/.well-known/openid-configuration, read at the first
# login (not at start-up: a provider that is down stops SSO, not the portal).
# As the provider writes it, trailing slash and all (Auth0's has one): the
# tokens' issuer must match it exactly (OpenID Connect Core 1.0, 3.1.3.7).
SQUADRON_OIDC_ISSUER = env_str("SQUADRON_OIDC_ISSUER", "") or ""
SQUADRON_OIDC_CLIENT_ID = env_str("SQUADRON_OIDC_CLIENT_ID", "") or ""
SQUADRON_OIDC_CLIENT_SECRET = env_secret("SQUADRON_OIDC_CLIENT_SECRET", "") or ""
SQUADRON_OIDC_NAME = env_str("SQUADRON_OIDC_NAME", "single sign-on") or ""
SQUADRON_OIDC_SCOPES = env_str("SQUADRON_OIDC_SCOPES", "openid email profile") or ""
SQUADRON_OIDC_USERNAME_CLAIM = env_str("SQUADRON_OIDC_USERNAME_CLAIM", "preferred_username") or ""
SQUADRON_OIDC_GROUPS_CLAIM = env_str("SQUADRON_OIDC_GROUPS_CLAIM", "groups") or ""
# Every call to the provider gives up after this long, so a provider that
# hangs costs a login page a few seconds, not a web worker.
SQUADRON_OIDC_TIMEOUT_SECONDS = env_int("SQUADRON_OIDC_TIMEOUT_SECONDS", 5, minimum=1)
# Every this many minutes (0: never) the worker asks the provider, with the
# refresh token of each person's last login, whether they are still allowed
# in; whoever it refuses (disabled, deleted) is deactivated here, sessions
# and API tokens included. Needs refresh tokens that outlive a session
# (offline_access in SQUADRON_OIDC_SCOPES; see the README).
SQUADRON_OIDC_CHECK_MINUTES = env_int("SQUADRON_OIDC_CHECK_MINUTES", 0, minimum=0)
if SQUADRON_OIDC_ISSUER:
    from portal.identity.oidc_config import oidc_settings_problems

    if problems := oidc_settings_problems(
        issuer=SQUADRON_OIDC_ISSUER,
        client_id=SQUADRON_OIDC_CLIENT_ID,
        client_secret=SQUADRON_OIDC_CLIENT_SECRET,
        scopes=SQUADRON_OIDC_SCOPES,
    ):
        raise ImproperlyConfigured("; ".join(problems) + ".")

# --- Logins: throttling and two-step login (portal/identity) ----------------
# Every login form (the portal's, the admin's, the code of a two-step login)
# counts failures per account and per client address, each on its own: this
# many failures within the lock-out time lock the account (from everywhere)
# and the address (for every account) until the oldest of them is that old.
SQUADRON_LOGIN_FAILURE_LIMIT = env_int("SQUADRON_LOGIN_FAILURE_LIMIT", 10, minimum=1)
SQUADRON_LOGIN_LOCKOUT_MINUTES = env_int("SQUADRON_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# The client address is REMOTE_ADDR, unless a proxy in front of Squadron
# names the client in a header: then this header (e.g. X-Forwarded-For or
# X-Real-IP), its last address, which is the one the proxy itself wrote.
# Never set it without such a proxy: the header would be the client's word.
SQUADRON_TRUSTED_PROXY_HEADER = env_str("SQUADRON_TRUSTED_PROXY_HEADER", "") or ""
if SQUADRON_TRUSTED_PROXY_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", SQUADRON_TRUSTED_PROXY_HEADER):
    raise ImproperlyConfigured(
        f"SQUADRON_TRUSTED_PROXY_HEADER must be a header name such as X-Forwarded-For, "
        f"not {SQUADRON_TRUSTED_PROXY_HEADER!r}."
    )
# Who must use a two-step login: none, staff (whoever may curate in the admin:
# staff, superusers, squad members) or all. They are sent to enrolment after
# their password and reach nothing else until it is done.
SQUADRON_REQUIRE_MFA = env_str("SQUADRON_REQUIRE_MFA", "none" if DEBUG else "staff") or ""
if SQUADRON_REQUIRE_MFA not in ("none", "staff", "all"):
    raise ImproperlyConfigured(
        f"SQUADRON_REQUIRE_MFA must be none, staff or all, not {SQUADRON_REQUIRE_MFA!r}."
    )

# --- LDAP logins (portal/identity/ldap.py; README, "LDAP logins") -------------
# A server URI turns them on beside local accounts: the user is found with the
# filter under the search base (bound as BIND_DN, or anonymously), their
# password checked by binding as them, their groups (GROUP_SEARCH_BASE, of
# GROUP_TYPE) sent to the group mappings. TIMEOUT bounds connecting and each
# request, so a directory that does not answer fails a login within seconds.
SQUADRON_LDAP_SERVER_URI = env_str("SQUADRON_LDAP_SERVER_URI", "")
SQUADRON_LDAP_BIND_DN = env_str("SQUADRON_LDAP_BIND_DN", "")
SQUADRON_LDAP_BIND_PASSWORD = env_secret("SQUADRON_LDAP_BIND_PASSWORD", "")
SQUADRON_LDAP_USER_SEARCH_BASE = env_str("SQUADRON_LDAP_USER_SEARCH_BASE", "")
SQUADRON_LDAP_USER_FILTER = env_str("SQUADRON_LDAP_USER_FILTER", "(uid=%(user)s)")
SQUADRON_LDAP_GROUP_SEARCH_BASE = env_str("SQUADRON_LDAP_GROUP_SEARCH_BASE", "")
SQUADRON_LDAP_GROUP_TYPE = env_str("SQUADRON_LDAP_GROUP_TYPE", "groupOfNames")
SQUADRON_LDAP_START_TLS = env_bool("SQUADRON_LDAP_START_TLS", False)
SQUADRON_LDAP_TIMEOUT = env_int("SQUADRON_LDAP_TIMEOUT", 5, minimum=1)
if SQUADRON_LDAP_GROUP_TYPE not in ("groupOfNames", "groupOfUniqueNames", "posixGroup", "activeDirectory"):
    raise ImproperlyConfigured(
        "SQUADRON_LDAP_GROUP_TYPE must be groupOfNames, groupOfUniqueNames, posixGroup or "
        f"activeDirectory, not {SQUADRON_LDAP_GROUP_TYPE!r}."
    )
if SQUADRON_LDAP_SERVER_URI and not LDAP_INSTALLED:
    raise ImproperlyConfigured(
        "SQUADRON_LDAP_SERVER_URI is set but python-ldap is not installed (it builds against OpenLDAP's "
        "headers): install libldap2-dev and libsasl2-dev (Debian, Ubuntu), then make clean and make install."
    )
# Every login sends a password to the directory: in production not in clear
# text over the network (ldaps://, or ldap:// with StartTLS). A directory on
# this machine (loopback, ldapi://) keeps it off the network anyway.
if SQUADRON_LDAP_SERVER_URI and not DEBUG:
    from portal.identity.directory import cleartext_directories

    if cleartext := cleartext_directories(SQUADRON_LDAP_SERVER_URI, start_tls=SQUADRON_LDAP_START_TLS):
        raise ImproperlyConfigured(
            f"Refusing to send passwords in clear text to {' '.join(cleartext)}: use ldaps://, "
            "or set SQUADRON_LDAP_START_TLS=true."
        )
if SQUADRON_LDAP_SERVER_URI and (
    not SQUADRON_LDAP_USER_SEARCH_BASE or "%(user)s" not in SQUADRON_LDAP_USER_FILTER
):
    raise ImproperlyConfigured(
        "SQUADRON_LDAP_SERVER_URI needs SQUADRON_LDAP_USER_SEARCH_BASE, and SQUADRON_LDAP_USER_FILTER "
        "must hold %(user)s where the typed username goes."
    )

AXES_FAILURE_LIMIT = SQUADRON_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=SQUADRON_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "portal.identity.throttling.client_address"
AXES_WHITELIST_CALLABLE = "portal.identity.throttling.checked_nothing"
AXES_LOCKOUT_CALLABLE = "portal.pages.login.locked_out"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# A try while locked out is refused unchecked and does not push the end of
# the lock-out further: the time the lock-out page gives stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Failures (with whether they locked) are kept after the lock-out ends: the
# record the admin shows. Form fields that are secrets never reach it.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code", "csrfmiddlewaretoken"]
# No start-up banner in every command's output.
AXES_VERBOSE = False
OTP_TOTP_ISSUER = "Squadron"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Internationalisation -------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

if DEBUG:
    # In development static files come from the finders; an absent
    # STATIC_ROOT (no collectstatic yet) is expected, not worth a warning.
    import warnings

    warnings.filterwarnings("ignore", message="No directory at: ")

# --- Security (production) ------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The portal's pages carry a strict Content-Security-Policy (no inline script
# or style): portal/web/csp.py. SQUADRON_CSP / SQUADRON_CSP_EXEMPT_PREFIXES override it.

# --- Celery ---------------------------------------------------------------
# The embedded broker is kombu's filesystem transport under var/: no server.
BROKER_DIR = VAR_DIR / "broker"
# The transport ignores the host, but kombu warns at every start that an URL
# without one "reverts to localhost": the default names it.
EMBEDDED_BROKER_URL = "filesystem://localhost/"
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL", EMBEDDED_BROKER_URL) or EMBEDDED_BROKER_URL
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        # Seconds between scans of the queue folder: this bounds dispatch latency.
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # An unacknowledged task (worker died) is delivered again after this.
        "visibility_timeout": 4 * 3600,
        # Publishing gives up fast when the broker is down: the order stays
        # queued, the user gets an answer in well under a second, and the
        # sweep dispatches it later. (kombu's default retries for ~6 s.)
        "max_retries": 1,
        "interval_start": 0.1,
        "interval_step": 0.2,
        "interval_max": 0.3,
        "socket_connect_timeout": 2,
    }
# Tests give each session a private queue so parallel runs never share messages.
CELERY_TASK_DEFAULT_QUEUE = env_str("SQUADRON_DEFAULT_QUEUE", "celery") or "celery"
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_CONNECTION_TIMEOUT", 3, minimum=1)
# What a task prints (the development console's emails) goes to the worker's
# stdout as it is, not through the logging as "WARNING celery.redirected".
CELERY_WORKER_REDIRECT_STDOUTS = False

# --- Email ----------------------------------------------------------------
# Development prints emails on the console; production sends them by SMTP.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Squadron <squadron@localhost>")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive; set one.")
# Links in emails are absolute: where people reach this portal.
SQUADRON_BASE_URL = (env_str("SQUADRON_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
# An email still pending after this long (broker down when it was queued)
# is sent again by the sweep.
SQUADRON_EMAIL_RESEND_AFTER_SECONDS = env_int("SQUADRON_EMAIL_RESEND_AFTER_SECONDS", 300, minimum=10)

# --- Logging --------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Runs (ansible-runner executor) ---------------------------------------
# Private data dirs of runs are created here (mode 0700) and removed after.
SQUADRON_RUN_DIR = env_str("SQUADRON_RUN_DIR", None)
# Where playbooks may write their visible results (exported to them as the
# SQUADRON_OUTPUT_DIR environment variable).
SQUADRON_OUTPUT_DIR = Path(env_str("SQUADRON_OUTPUT_DIR", str(VAR_DIR / "output")) or VAR_DIR / "output")
# Each playbook runs in a bubblewrap sandbox (runbooks.execution.sandbox) unless this
# says "none". Production defaults to bubblewrap, and a worker refuses to
# start without bwrap unless "none" is set explicitly; development uses it
# when bwrap is installed.
SQUADRON_RUN_ISOLATION = (
    env_str("SQUADRON_RUN_ISOLATION", "bubblewrap" if not DEBUG or shutil.which("bwrap") else "none") or ""
)
if SQUADRON_RUN_ISOLATION not in ("bubblewrap", "none"):
    raise ImproperlyConfigured(
        f"SQUADRON_RUN_ISOLATION must be bubblewrap or none, not {SQUADRON_RUN_ISOLATION!r}."
    )
# Limits of every run, per process (CPU seconds, address space) and per run
# (processes); 0 turns one off. A run that reaches one fails saying which.
SQUADRON_RUN_CPU_SECONDS = env_int("SQUADRON_RUN_CPU_SECONDS", 3600, minimum=0)
SQUADRON_RUN_MEMORY_MB = env_int("SQUADRON_RUN_MEMORY_MB", 2048, minimum=0)
SQUADRON_RUN_PROCESSES = env_int("SQUADRON_RUN_PROCESSES", 256, minimum=0)
SQUADRON_EVENT_BATCH_SIZE = env_int("SQUADRON_EVENT_BATCH_SIZE", 500, minimum=1)
SQUADRON_EVENT_FLUSH_MS = env_int("SQUADRON_EVENT_FLUSH_MS", 250, minimum=10)
#: What a page shows of one event's output (its head and tail); the download has all of it.
SQUADRON_EVENT_STDOUT_LIMIT = env_int("SQUADRON_EVENT_STDOUT_LIMIT", 16_384, minimum=256)
#: What is stored of one event's output: a task printing more keeps its head and tail.
SQUADRON_EVENT_STDOUT_MAX = env_int("SQUADRON_EVENT_STDOUT_MAX", 4 * 1024 * 1024, minimum=16_384)
SQUADRON_HEARTBEAT_SECONDS = env_int("SQUADRON_HEARTBEAT_SECONDS", 5, minimum=1)
SQUADRON_HEARTBEAT_STALE_SECONDS = env_int("SQUADRON_HEARTBEAT_STALE_SECONDS", 60, minimum=2)
# A worker started with `--include portal.liveness` touches this file while
# it consumes: compose's healthcheck tests its age (no broker password needed).
SQUADRON_WORKER_HEARTBEAT_FILE = env_str("SQUADRON_WORKER_HEARTBEAT_FILE", "") or ""
SQUADRON_REDISPATCH_AFTER_SECONDS = env_int("SQUADRON_REDISPATCH_AFTER_SECONDS", 60, minimum=1)
SQUADRON_SWEEP_INTERVAL_SECONDS = env_int("SQUADRON_SWEEP_INTERVAL_SECONDS", 30, minimum=1)
# Secret inputs of a failed order are kept (encrypted) this long for a retry.
SQUADRON_SECRET_RETENTION_HOURS = env_int("SQUADRON_SECRET_RETENTION_HOURS", 168, minimum=0)

# How often beat looks for approvals waiting too long (reminders, escalations).
SQUADRON_APPROVAL_CHECK_SECONDS = env_int("SQUADRON_APPROVAL_CHECK_SECONDS", 300, minimum=10)

CELERY_BEAT_SCHEDULE = {
    "sweep-orders": {
        "task": "portal.sweep_orders",
        "schedule": float(SQUADRON_SWEEP_INTERVAL_SECONDS),
        "options": {"expires": float(SQUADRON_SWEEP_INTERVAL_SECONDS)},
    },
    "remind-approvals": {
        "task": "portal.remind_approvals",
        "schedule": float(SQUADRON_APPROVAL_CHECK_SECONDS),
        "options": {"expires": float(SQUADRON_APPROVAL_CHECK_SECONDS)},
    },
}

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env_int("SQUADRON_API_PAGE_SIZE", 50, minimum=1),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.api.throttling.TokenRateThrottle",
        "portal.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": env_str("SQUADRON_API_TOKEN_RATE", "1200/minute"),
        "user": env_str("SQUADRON_API_USER_RATE", "3000/minute"),
    },
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Squadron API",
    "DESCRIPTION": "Order and follow the products squads offer; approve and fulfil them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: the version whose documents describe webhooks (the payloads we send).
    "OAS_VERSION": "3.1.0",
    # Every tag an operation carries, described once (spectral: operation-tag-defined).
    "TAGS": [
        {"name": "products", "description": "The catalogue: products, their forms and their metrics."},
        {"name": "orders", "description": "Orders: place, follow, approve, fulfil, cancel, retry."},
        {"name": "instances", "description": "Services as they run: day-2 operations and hand-overs."},
        {"name": "squads", "description": "Squads, their members and their dashboards' numbers."},
        {"name": "runbooks", "description": "The runbooks that carry out orders, and their versions."},
        {"name": "webhooks", "description": "Subscriptions to events, their deliveries and secrets."},
        {"name": "cost", "description": "What the services cost, by business unit and product."},
        {"name": "me", "description": "The signed-in user."},
        {"name": "audit", "description": "The audit trail of every change and login (platform leads)."},
    ],
}
# Bodies above this size are refused before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("SQUADRON_MAX_BODY_BYTES", 256 * 1024, minimum=1024)

# --- REST API: docs, idempotency, webhooks, shared throttle counts ----------------
# Swagger UI's assets come from the drf-spectacular-sidecar package: the docs
# page loads nothing from a CDN, and its start-up script is a file (no inline
# script), so a strict Content-Security-Policy can hold.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "SCHEMA_PATH_PREFIX": r"/api/v1",
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "portal.api.schema.state_parameter_bounds",
            "portal.api.schema.describe_servers_and_ids",
            "portal.api.webhook_events.webhook_events",
            "portal.api.schema.nullable_as_openapi_31",
        ],
        "ENUM_NAME_OVERRIDES": {
            "OrderStatusEnum": "portal.orders.choices.OrderStatus",
            "DeliveryStatusEnum": "portal.integrations.models.WebhookDelivery.Status",
            # An instance's ``state`` keeps the name it had before transfers had one too.
            "StateEnum": "portal.instances.choices.InstanceState",
            "TransferStateEnum": "portal.instances.choices.TransferState",
            # Four choice sets share the field name "kind": each its own name.
            "CommentKindEnum": "portal.orders.models.OrderComment.Kind",
            "DebtSubjectKindEnum": ["runbook", "product"],
            "DependencyAlertKindEnum": ["failing", "retired"],
        },
    }
)
# An Idempotency-Key answers with its first order for this many hours.
SQUADRON_IDEMPOTENCY_KEY_HOURS = env_int("SQUADRON_IDEMPOTENCY_KEY_HOURS", 24, minimum=1)
# Webhook receivers on private, loopback or link-local addresses are refused
# unless this is on (default: only with DEBUG), so a subscriber cannot make
# the server call into the internal network (SSRF).
SQUADRON_WEBHOOK_ALLOW_PRIVATE = env_bool("SQUADRON_WEBHOOK_ALLOW_PRIVATE", DEBUG)
# Order forms' choices fetched from a URL (x-choices-from: {url: ...}): only
# from these hosts, through the webhooks' SSRF guard, within the timeout,
# kept in the cache this long.
SQUADRON_CHOICES_URL_HOSTS = env_list("SQUADRON_CHOICES_URL_HOSTS", [])
SQUADRON_CHOICES_URL_TIMEOUT_SECONDS = env_int("SQUADRON_CHOICES_URL_TIMEOUT_SECONDS", 5, minimum=1)
SQUADRON_CHOICES_URL_CACHE_SECONDS = env_int("SQUADRON_CHOICES_URL_CACHE_SECONDS", 300, minimum=0)
SQUADRON_WEBHOOK_TIMEOUT_SECONDS = env_int("SQUADRON_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
SQUADRON_WEBHOOK_MAX_ATTEMPTS = env_int("SQUADRON_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
# Wait before the 2nd attempt; it doubles with every attempt after that.
SQUADRON_WEBHOOK_BACKOFF_SECONDS = env_int("SQUADRON_WEBHOOK_BACKOFF_SECONDS", 15, minimum=1)
# Deliveries carry the Standard Webhooks headers; while this is on they also
# carry the old X-Squadron-Signature (and -Delivery, -Timestamp) for
# receivers written before. Deprecated: turn it off once every receiver
# verifies webhook-signature; the default turns off in a later release.
SQUADRON_WEBHOOK_LEGACY_SIGNATURE = env_bool("SQUADRON_WEBHOOK_LEGACY_SIGNATURE", True)
# Deliveries (and their sweep) go to a queue of their own, consumed by a
# worker of their own: receivers that hang never hold up a playbook's worker.
SQUADRON_WEBHOOK_QUEUE = env_str("SQUADRON_WEBHOOK_QUEUE", "webhooks") or "webhooks"
CELERY_TASK_ROUTES = {
    "portal.deliver_webhook": {"queue": SQUADRON_WEBHOOK_QUEUE},
    "portal.sweep_webhook_deliveries": {"queue": SQUADRON_WEBHOOK_QUEUE},
}
# At most this many webhooks per person, and test events (pings, redeliveries)
# sent by hand per person and minute.
SQUADRON_WEBHOOKS_PER_USER = env_int("SQUADRON_WEBHOOKS_PER_USER", 20, minimum=1)
SQUADRON_WEBHOOK_PINGS_PER_MINUTE = env_int("SQUADRON_WEBHOOK_PINGS_PER_MINUTE", 5, minimum=1)
CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"] = {
    "task": "portal.sweep_webhook_deliveries",
    "schedule": 60.0,
    "options": {"expires": 60.0},
}
if SQUADRON_OIDC_ISSUER and SQUADRON_OIDC_CHECK_MINUTES:
    CELERY_BEAT_SCHEDULE["check-sso-accounts"] = {
        "task": "portal.check_sso_accounts",
        "schedule": 60.0 * SQUADRON_OIDC_CHECK_MINUTES,
        "options": {"expires": 60.0 * SQUADRON_OIDC_CHECK_MINUTES},
    }
CELERY_BEAT_SCHEDULE["check-instance-expiry"] = {
    "task": "portal.check_instance_expiry",
    "schedule": 300.0,
    "options": {"expires": 300.0},
}
CELERY_BEAT_SCHEDULE["purge-idempotency-keys"] = {
    "task": "portal.purge_idempotency_keys",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
# Throttle counts and catalogue pages live in the cache: per process unless
# CACHE_URL names a Redis server that every web process shares. Either way it
# holds JSON only (portal/cache.py): whatever else is found there reads as a
# miss and is never unpickled.
CACHE_URL = env_secret("CACHE_URL", "") or ""
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL (or empty), not {CACHE_URL!r}.")


def _refuse_cache_in_the_broker() -> None:
    """``cache.clear()`` empties its whole database, and what the cache holds
    must not be writable by whatever can post task messages."""
    from portal.cache import redis_database

    try:
        cache_db, broker_db = redis_database(CACHE_URL), redis_database(CELERY_BROKER_URL)
    except ValueError as error:
        raise ImproperlyConfigured(f"CACHE_URL or CELERY_BROKER_URL is not a valid URL: {error}") from None
    if cache_db is not None and cache_db == broker_db:
        raise ImproperlyConfigured(
            "CACHE_URL names the same Redis server and database as CELERY_BROKER_URL: give the cache "
            "its own Redis server (or at least its own database number), which only web reaches."
        )


if CACHE_URL:
    _refuse_cache_in_the_broker()
CACHES = {
    "default": (
        {"BACKEND": "portal.cache.JsonRedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "portal.cache.JsonLocMemCache"}
    )
}
# --- Insights and operator metrics -------------------------------------------
# ``/metrics`` (Prometheus text) answers a scraper that presents this bearer
# token (``Authorization: Bearer ...``) or connects from one of the allowed
# addresses or networks (REMOTE_ADDR, e.g. "10.0.0.5,172.16.0.0/12"). With
# neither set it answers nobody, except localhost in DEBUG.
SQUADRON_METRICS_TOKEN = env_secret("SQUADRON_METRICS_TOKEN", "") or ""
SQUADRON_METRICS_ALLOWED_IPS = env_list("SQUADRON_METRICS_ALLOWED_IPS", [])


def _metrics_networks(values: list[str]) -> list[str]:
    import ipaddress

    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"SQUADRON_METRICS_ALLOWED_IPS: {value!r} is not an IP address or network."
            ) from None
    return values


SQUADRON_METRICS_ALLOWED_IPS = _metrics_networks(SQUADRON_METRICS_ALLOWED_IPS)
