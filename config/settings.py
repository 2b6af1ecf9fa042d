"""One settings module, configured from the environment (see README "Configuration").

Production sets DATABASE_URL (PostgreSQL 14+) and REDIS_URL (Celery broker). Where either
is unset, development and the test suite run on an embedded PostgreSQL or Redis started
from a pip wheel (config/embedded.py): the same code on the same engines.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE

from config import embedded
from config.env import ImproperEnv, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# Without a key and with DEBUG off, settings still load so that commands which sign
# nothing (makemigrations --check, migrate) run; Django refuses every signing use of an
# empty key, and the web, worker and beat processes refuse to start without one
# (config.env.require_secret_key, called from config/wsgi.py and config/celery.py).
SECRET_KEY = env_str("SECRET_KEY") or ("dev-only-insecure-key-do-not-use-in-production" if DEBUG else "")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens: stored as digests, with an expiry (escalations.models.ApiToken).
    "knox",
    # Locks out repeated failed sign-ins (web, admin, token endpoint).
    "axes",
    "csp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "escalations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "escalations.accounts.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records request.user as the history_user of every simple-history row written
    # while serving a web/admin/API request.
    "simple_history.middleware.HistoryRequestMiddleware",
    "escalations.accounts.middleware.ViewerTimezoneMiddleware",
    "escalations.accounts.middleware.SessionIdleTimeoutMiddleware",
    "escalations.accounts.middleware.OnceFormMiddleware",
    # Last: turns a sign-in refused for a lockout into the lockout answer
    # (escalations.accounts.lockout.lockout_response).
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses every sign-in of a locked-out username or address before a
    # password is checked.
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend with one query for a user's permissions instead of two.
    "escalations.security.backends.RoleBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "escalations.views.context_processors.navigation",
            ],
        },
    },
]

# Production names its servers; development and tests (DEBUG or TESTING) fall back to
# the embedded ones under VAR_DIR. Production without them still loads its settings, so
# that commands needing no server run (makemigrations --check); the web, worker and beat
# processes refuse to start (config.env.require_servers).
EMBEDDED_ALLOWED = DEBUG or env_bool("TESTING", False)


def _server_url(name: str, start) -> str:
    return env_str(name) or (start(VAR_DIR) if EMBEDDED_ALLOWED else "")


DATABASE_URL = _server_url("DATABASE_URL", embedded.database_url)
# Without a URL, Django's dummy backend: any query fails, naming DATABASES.
DATABASES = {}
if DATABASE_URL:
    DATABASES["default"] = dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperEnv("DATABASE_URL must name a PostgreSQL database (postgres://…)")
if DATABASE_URL and env_bool("DB_PREPARED_STATEMENTS", True):
    # PostgreSQL: bind parameters server-side and let psycopg prepare a statement after
    # its fifth run on a connection, so PostgreSQL stops re-planning the same queries
    # (the API's list query takes longer to plan than to run). Turn off behind a
    # connection pooler in transaction mode that cannot hold prepared statements.
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "escalations:queue"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The zone shown to a user who has not chosen one (escalations.accounts.middleware).
DEFAULT_VIEWER_TIMEZONE = env_str("DEFAULT_VIEWER_TIMEZONE", "UTC")

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = (
    [BASE_DIR / "escalations" / "static_src"] if (BASE_DIR / "escalations" / "static_src").exists() else []
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env_bool("TESTING", False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security (python manage.py check --deploy is clean with the production variables)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- Sign-in, sessions and API tokens (README "Security")
# A session ends after this long without a request (escalations.accounts.middleware.
# SessionIdleTimeoutMiddleware slides the expiry forward as the user works).
SESSION_IDLE_TIMEOUT_HOURS = env_float("SESSION_IDLE_TIMEOUT_HOURS", 8.0)
SESSION_COOKIE_AGE = int(SESSION_IDLE_TIMEOUT_HOURS * 3600)
# The expiry is re-saved at most this often, not on every request: one session write per
# few minutes of work instead of one per page.
SESSION_IDLE_REFRESH_SECONDS = env_int("SESSION_IDLE_REFRESH_SECONDS", 300)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)

# django-axes: after LOGIN_FAILURE_LIMIT failed sign-ins for one username, or from one
# address, that username or address is refused for LOGIN_LOCKOUT_MINUTES (measured from
# the last failure) on the web login, the admin login and the token endpoint alike.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# Tries during a lockout are refused without being counted, so the lockout ends when the
# message says it will; the rate of guesses stays bounded at the limit per period.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "escalations.accounts.lockout.lockout_response"
# The same client address as the API throttles: REMOTE_ADDR, or behind BEHIND_TLS_PROXY
# the X-Forwarded-For entry NUM_PROXIES hops from the right (never the header's start,
# which the client writes).
AXES_CLIENT_IP_CALLABLE = "escalations.accounts.lockout.client_ip"
AXES_SENSITIVE_PARAMETERS = ["password"]

# API tokens (django-rest-knox over escalations.models.ApiToken). People get tokens from
# POST /api/v1/auth/token/ that expire after API_TOKEN_TTL_HOURS; integrations get
# named tokens from the admin or `manage.py integration_create`, expiring after
# INTEGRATION_TOKEN_TTL_DAYS (0: never; an explicit choice, see README "Security").
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 24 * 30)
INTEGRATION_TOKEN_TTL_DAYS = env_int("INTEGRATION_TOKEN_TTL_DAYS", 365)
KNOX_TOKEN_MODEL = "escalations.ApiToken"
# knox's own migrations create its AuthToken table even when the model is swapped out
# (as here): unused, and its foreign key to users would block test database flushes.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

# django-csp: scripts only from our own static files (no inline script, no eval). Styles
# also allow inline: the Swagger UI page and the admin write style attributes, and a
# style cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Browser features the app never uses, refused to every page (escalations.accounts.middleware).
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

# --- Celery (config/celery.py reads these through namespace="CELERY")
REDIS_URL = _server_url("REDIS_URL", embedded.redis_url)
CELERY_BROKER_URL = REDIS_URL or None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task taken but not acknowledged (acks_late) is redelivered after this many
    # seconds. It must exceed the longest task's hard time limit, or a slow task
    # would be handed to a second worker while the first still runs it.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900),
    # A broker that vanishes without closing the connection (failover, a firewall's
    # idle timeout) must not hang a publish or a consumer: bounded connects and
    # commands, keepalive, and a PING on a connection idle this long; kombu also drops
    # a BRPOP whose reply is overdue by brpop_timeout (1 s) + this interval.
    "socket_connect_timeout": env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0),
    "socket_timeout": 3.0,
    "socket_keepalive": True,
    "health_check_interval": 5,
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Worker and beat retry the broker for as long as it is down (Celery's default gives up
# after 100 tries and the worker exits), every BROKER_RECONNECT_SECONDS: kombu's own
# backoff grows to 30 s between tries, so after a long outage a consumer came back up to
# half a minute after the broker did (config/celery.py applies this to the consumer).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
BROKER_RECONNECT_SECONDS = 1.0
# Publishing must not hang a web request while the broker is down: a few quick
# retries, then the on_commit publisher gives up and the sweep recovers the work.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

# --- Email (Django's backend; console unless configured)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "escalations@localhost")

# --- Product knobs
# Webhooks go to public addresses only; these host names (as written in the URL, e.g. an
# on-premises chat server) may resolve to internal ones. Each team signs with its own secret.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])
# CA bundle (PEM file) for receivers whose certificates an internal CA issued; unset: the
# public CAs (certifi). Webhook requests ignore REQUESTS_CA_BUNDLE and proxy variables.
WEBHOOK_CA_BUNDLE = env_str("WEBHOOK_CA_BUNDLE")
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
SWEEP_INTERVAL_SECONDS = env_float("SWEEP_INTERVAL_SECONDS", 10.0)
SWEEP_BATCH_SIZE = env_int("SWEEP_BATCH_SIZE", 500)
SWEEP_STALE_AFTER_SECONDS = env_int("SWEEP_STALE_AFTER_SECONDS", 120)
# A breach falling due within this long after a severity raise is suggested to have the
# cause "wrong severity" (escalations.sla.causes).
BREACH_CAUSE_SEVERITY_WINDOW = timedelta(minutes=env_int("BREACH_CAUSE_SEVERITY_WINDOW_MINUTES", 30))
SYSTEM_USERNAME = "system"
# An overdue RCA or action item tells its owner at once and the Managers this long after.
RCA_MANAGER_GRACE_HOURS = env_int("RCA_MANAGER_GRACE_HOURS", 48)

# --- REST framework
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "escalations.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # escalations/api/throttles.py: every endpoint is limited per user ("user"); intake
    # (per integration) and the token endpoint (per client address) have their own rates.
    # While the cache is down they let requests through (auth: counted per process).
    "DEFAULT_THROTTLE_CLASSES": ["escalations.api.throttles.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("THROTTLE_USER", "1200/min"),
        "intake": env_str("THROTTLE_INTAKE", "6000/min"),
        "auth": env_str("THROTTLE_AUTH", "20/min"),
    },
    # The client address of anonymous throttles (the token endpoint): REMOTE_ADDR, or
    # behind BEHIND_TLS_PROXY the address NUM_PROXIES hops from the right of
    # X-Forwarded-For. Never the whole header, which the client writes.
    "NUM_PROXIES": env_int("NUM_PROXIES", 1) if BEHIND_TLS_PROXY else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Escalations API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema and its docs describe every endpoint: for signed-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# The cache holds the API throttles' counters. Several web processes must share one
# (Redis: CACHE_URL), or each process would allow the whole rate on its own. Unset: a
# per-process memory cache (development, tests). Keep it apart from the Celery broker's
# Redis database: clearing a cache empties its database.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "esc",
            # A cache that is down costs a request at most this, once per 2 s per
            # process (escalations/outages.py); then the request goes on without it.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"health_probe": {"()": "escalations.lib.logfilters.HealthProbeAtWarning"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["health_probe"]},
    },
}

# --- Breach engine (issue 3): sweep budget and notification retry timing
# A sweep stops taking new batches after this long so it stays inside the task's soft
# time limit (config/celery.py); the next sweep carries on where it stopped.
SWEEP_MAX_SECONDS = env_float("SWEEP_MAX_SECONDS", 60.0)
# After each sweep, have Celery run one more at the next deadline within the beat interval
# (apply_async eta), so known deadlines are met within about a second; the beat stays the
# safety net. Off: only the beat sweeps (latency up to one SWEEP_INTERVAL_SECONDS).
SWEEP_WAKEUP = env_bool("SWEEP_WAKEUP", True)
# An outbox row not delivered this long after it was written (its after-commit publish
# was lost, e.g. the broker was down) is picked up by the retry pass.
NOTIFICATION_FIRST_RETRY_SECONDS = env_float("NOTIFICATION_FIRST_RETRY_SECONDS", 60.0)
# A never-attempted row the retry pass publishes is not published again for this long.
NOTIFICATION_RETRY_LEASE_SECONDS = env_float("NOTIFICATION_RETRY_LEASE_SECONDS", 60.0)
# Failed deliveries wait base × 2^(attempt−1) seconds, capped, before the next attempt.
NOTIFICATION_BACKOFF_BASE_SECONDS = env_float("NOTIFICATION_BACKOFF_BASE_SECONDS", 30.0)
NOTIFICATION_BACKOFF_MAX_SECONDS = env_float("NOTIFICATION_BACKOFF_MAX_SECONDS", 3600.0)

# --- REST API (issue 4): one error shape for every 4xx (escalations/api/errors.py)
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "escalations.api.errors.api_exception_handler"
# A CSRF refusal under /api/ answers in the API's JSON shape; elsewhere Django's page.
CSRF_FAILURE_VIEW = "escalations.api.errors.csrf_failure"
# One OpenAPI enum per choice set, however many fields use it.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "SeverityEnum": "escalations.choices.SeverityKey",
    "StageEnum": "escalations.choices.Stage",
    "PauseReasonEnum": "escalations.choices.PauseReason",
}
# Probes (load balancers, uptime monitors) call /healthz over plain HTTP inside the
# network; redirecting them to HTTPS would make every probe "fail" with a 301.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
