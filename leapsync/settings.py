"""Settings for leapsync, read from the environment (and an optional `.env` file)."""

import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

from leapsync.replica import REPLICA

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _env_bool(name: str, default: bool) -> bool:
    """A boolean variable; anything but a clear yes/no is a configuration error."""
    raw = env.str(name, default="").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), got {raw!r}")


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = env.str(name, default="").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


# Variables only a production deployment sets: while any is set, nothing runs on development
# defaults.
PRODUCTION_VARIABLES = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "LEAP_BASE_URL",
    "LEAP_WEBHOOK_SECRET",
    "LEAP_WEBHOOK_URL",
)


def _development_tool() -> bool:
    """Whether this process is a development tool (`manage.py leap_simulator`: it serves no
    page of ours and reads no data) started where no production setting is in play."""
    return bool(env.str("LEAPSYNC_DEVELOPMENT_TOOL", default="")) and not any(
        env.str(name, default="").strip() for name in PRODUCTION_VARIABLES
    )


# A missing variable must never weaken production: DEBUG is off unless asked for, or unless a
# development tool runs with no production setting at all (then there is no production to weaken).
DEBUG = _env_bool("DEBUG", _development_tool())

_DEV_SECRET_KEY = "django-insecure-leapsync-development-only"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG off) needs SECRET_KEY, ALLOWED_HOSTS and "
            "DATABASE_URL; for local development set DEBUG=1 (see README)."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set (comma-separated host names).")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "django_filters",
    "django_htmx",
    "django_q",
    "django_tables2",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "leapsync.ui",
    "leapsync",
    "leapsync.webhooks",
    "leapsync.dashboard",
    "leapsync.preferences",
    "leapsync.api",
    "meters",
    "enrollments",
    "actions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "leapsync.ui.security.ContentSecurityPolicyMiddleware",
    "leapsync.ui.security.RefuseNulInQueryMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "leapsync.urls"
WSGI_APPLICATION = "leapsync.wsgi.application"

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
                "actions.context_processors.my_actions",
            ],
        },
    },
]

# SQLite is the zero-setup default. The web server and the django-q2 worker write at once, so:
# WAL (readers never block the writer), a busy timeout, and IMMEDIATE transactions (a writer takes
# the lock when its transaction starts, so two writers queue instead of failing with
# "database is locked" on lock upgrade).
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'leapsync.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Bind parameters on the server: psycopg then sends values as they are instead of quoting
    # every one in Python, which dominated the sync's bulk writes.
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
    # No JIT: PostgreSQL compiles a plan costed above jit_above_cost before running it, which
    # took 1.6 s of a 2.5 s page at a million meters; every query here is short or a bulk write.
    DATABASES["default"]["OPTIONS"]["options"] = "-c jit=off"
DATABASES["default"].setdefault("CONN_MAX_AGE", 0 if DEBUG else 60)
# A read replica for the list pages (leapsync/replica.py; docs/deploy.md "A read replica").
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="").strip()
if DATABASE_REPLICA_URL:
    _replica = env.db_url_config(DATABASE_REPLICA_URL)
    if {_replica["ENGINE"], DATABASES["default"]["ENGINE"]} != {"django.db.backends.postgresql"}:
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL is a PostgreSQL replica of DATABASE_URL: both must be "
            "postgres:// URLs."
        )
    _replica.setdefault("OPTIONS", {})["server_side_binding"] = True
    # A replica that does not answer costs a page this long before it reads the primary.
    _replica["OPTIONS"].setdefault("connect_timeout", 3)
    _replica["OPTIONS"]["options"] = DATABASES["default"]["OPTIONS"]["options"]  # no JIT either
    _replica["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    _replica["CONN_HEALTH_CHECKS"] = True
    # Tests have no replication: the replica's connection reads the primary's test database.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[REPLICA] = _replica
    DATABASE_ROUTERS = ["leapsync.replica.ReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
        "leapsync.replica.PinAfterWriteMiddleware",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The cache: sign-in throttling (leapsync/signin.py) and the figures' "recompute queued" marks.
# gunicorn runs several worker processes: in production they share one cache (files in DATA_DIR
# by default; CACHE_URL to a cache server across machines).
CACHES = {
    "default": env.cache_url(
        "CACHE_URL",
        default="locmemcache://" if DEBUG else f"filecache://{DATA_DIR / 'cache'}",
    )
}
# Request bodies: form posts stay small; an uploaded file above FILE_UPLOAD_MAX_MEMORY_SIZE goes
# to a temporary file, never memory. The site import caps the file itself (meters/forms.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Sign-in protection (leapsync/signin.py; docs/deploy.md says how to unlock) -----------
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out client is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# How many proxies in front of the app append the client's address to X-Forwarded-For (nginx
# alone: 1). 0 believes no header: the address is the connection's (REMOTE_ADDR).
TRUSTED_PROXY_COUNT = _env_int("TRUSTED_PROXY_COUNT", 0)
# Failed sign-ins per account from one address, then per address across accounts, before
# sign-in is refused for LOGIN_LOCKOUT_MINUTES (each refused attempt starts the wait again).
AXES_FAILURE_LIMIT = _env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = _env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 30, minimum=1)
LOGIN_LOCKOUT_MINUTES = _env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# Axes counts per (account, address); the handler adds the per-address budget, which a
# successful sign-in does not refill (only that account's failures from there are forgiven).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "leapsync.signin.LoginAttemptHandler"
AXES_CLIENT_IP_CALLABLE = "leapsync.signin.client_address"
AXES_LOCKOUT_CALLABLE = "leapsync.signin.locked_out"
# Password-reset requests per hour: emails sent to one address, requests from one client.
PASSWORD_RESET_LIMIT_PER_EMAIL = _env_int("PASSWORD_RESET_LIMIT_PER_EMAIL", 3, minimum=1)
PASSWORD_RESET_LIMIT_PER_ADDRESS = _env_int("PASSWORD_RESET_LIMIT_PER_ADDRESS", 10, minimum=1)

LANGUAGE_CODE = "en-us"
# Leap sends UTC; pages show this zone (CAISO delivery periods start at local midnight).
TIME_ZONE = env.str("TIME_ZONE", default="America/Los_Angeles")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# In development whitenoise serves from the finders and never needs `collectstatic`.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="leapsync <leapsync@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Customer emails about required actions are signed with these (placeholders in the catalogue).
PARTNER_NAME = env.str("PARTNER_NAME", default="Your energy program team")
PARTNER_SUPPORT_EMAIL = env.str("PARTNER_SUPPORT_EMAIL", default="")
PARTNER_SUPPORT_URL = env.str("PARTNER_SUPPORT_URL", default="")
# This app's own address, for links in operations alerts (e.g. https://leapsync.example.com).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Local time (in TIME_ZONE) at which the managers' deadline digests are sent, as HH:MM.
DIGEST_SEND_TIME = env.str("DIGEST_SEND_TIME", default="07:00").strip()
if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", DIGEST_SEND_TIME):
    raise ImproperlyConfigured(f"DIGEST_SEND_TIME must be HH:MM, got {DIGEST_SEND_TIME!r}")

# Production hardening; `manage.py check --deploy` passes with DEBUG off.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe the nodes over plain HTTP: no redirect for the health endpoints.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# --- Leap ---------------------------------------------------------------------------------
# A URL, or one of the names "staging" / "production" (see leapsync.leap.client.BASE_URLS).
# The default is the built-in simulator that `make run` starts (`manage.py leap_simulator`).
SIMULATOR_PORT = _env_int("SIMULATOR_PORT", 8765, minimum=1)
LEAP_BASE_URL = env.str("LEAP_BASE_URL", default=f"http://127.0.0.1:{SIMULATOR_PORT}")
# The development key the simulator accepts when no key is configured (named in the README).
SIMULATOR_DEV_API_KEY = "leapsync-dev-key"
LEAP_API_KEY = env.str("LEAP_API_KEY", default=SIMULATOR_DEV_API_KEY if DEBUG else "")
LEAP_TIMEOUT_SECONDS = _env_int("LEAP_TIMEOUT_SECONDS", 30, minimum=1)
LEAP_MAX_RETRIES = _env_int("LEAP_MAX_RETRIES", 5)
LEAP_PAGE_SIZE = _env_int("LEAP_PAGE_SIZE", 500, minimum=1)
LEAP_WEBHOOK_SECRET = env.str("LEAP_WEBHOOK_SECRET", default="")
# The header our webhook subscription asks Leap to send the secret in (names arrive lower-cased).
LEAP_WEBHOOK_HEADER = env.str("LEAP_WEBHOOK_HEADER", default="x-leapsync-secret").strip().lower()
# Our public receiver URL, registered at Leap by `manage.py leap_webhooks register`.
LEAP_WEBHOOK_URL = env.str("LEAP_WEBHOOK_URL", default="")
# Webhook events arriving within this window coalesce into one targeted refresh.
LEAP_WEBHOOK_COALESCE_SECONDS = _env_int("LEAP_WEBHOOK_COALESCE_SECONDS", 5)

SYNC_OVERLAP_MINUTES = _env_int("SYNC_OVERLAP_MINUTES", 15)
SYNC_INCREMENTAL_MINUTES = _env_int("SYNC_INCREMENTAL_MINUTES", 60, minimum=1)
SYNC_FULL_CRON = env.str("SYNC_FULL_CRON", default="30 2 * * *")
SYNC_STALE_CRON = env.str("SYNC_STALE_CRON", default="0 5 * * *")
SYNC_FRESHNESS_MINUTES = _env_int("SYNC_FRESHNESS_MINUTES", 180, minimum=1)
# Where sync alerts go (leapsync/alerts.py): these addresses, else the Operations group's.
SYNC_ALERT_EMAILS = [a.strip() for a in env.list("SYNC_ALERT_EMAILS", default=[]) if a.strip()]
for _address in SYNC_ALERT_EMAILS:
    try:
        validate_email(_address)
    except ValidationError:
        raise ImproperlyConfigured(
            f"SYNC_ALERT_EMAILS must be comma-separated email addresses, got {_address!r}"
        ) from None
# Run the details and enrollments streams in two processes at once (PostgreSQL only).
SYNC_PARALLEL_STREAMS = env.bool("SYNC_PARALLEL_STREAMS", default=True)
# The scheduled full sync in this many created-date ranges, each a task any worker of the
# cluster takes (leapsync/sync/ranges.py); 1 runs it as one task.
SYNC_FULL_RANGES = _env_int("SYNC_FULL_RANGES", 1, minimum=1)

# The API for the partner's systems (leapsync/api, docs/api.md): tokens only (no session, so
# no CSRF), JSON only, keyset pages, RFC 9457 errors, and API_RATE_PER_MINUTE requests per token.
API_RATE_PER_MINUTE = _env_int("API_RATE_PER_MINUTE", 600, minimum=1)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["leapsync.api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["leapsync.api.auth.CanRead"],
    "DEFAULT_THROTTLE_CLASSES": ["leapsync.api.auth.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": f"{API_RATE_PER_MINUTE}/min"},
    "DEFAULT_PAGINATION_CLASS": "leapsync.api.pagination.KeysetPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["leapsync.api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "leapsync.api.problems.handle",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "leapsync API",
    "DESCRIPTION": "Meters, sites, actions, rosters, deadlines, sync status and the change "
    "feed, for the partner's own systems. See docs/api.md.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",  # nullable objects as `oneOf [ref, null]`, which validators agree on
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "leapsync.api.schema.add_problems",
    ],
}

# django-q2: the ORM broker by default (no extra service); with Q_REDIS_URL, a Redis broker, for
# worker clusters on several machines (docs/deploy.md). `timeout` stays below `retry`.
Q_REDIS_URL = env.str("Q_REDIS_URL", default="")
Q_CLUSTER = {
    "name": "leapsync",
    **({"redis": Q_REDIS_URL} if Q_REDIS_URL else {"orm": "default"}),
    "workers": _env_int("Q_WORKERS", 2, minimum=1),
    "timeout": 3600,
    "retry": 3900,
    "max_attempts": 1,
    # A full sync runs its two streams in child processes (leapsync/sync/parallel.py).
    "daemonize_workers": False,
    "catch_up": False,
    "save_limit": 500,
    "label": "Tasks",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # django-axes announces itself at every start, naming only the per-account budget.
        "axes.apps": {"level": "WARNING"},
    },
}
