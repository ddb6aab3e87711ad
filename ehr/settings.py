"""Settings for the EHR, driven by the environment.

With no variables at all this is the embedded development default: SQLite and the
kombu filesystem broker under var/, ID.me played by the sandbox mounted in the same
server. DJANGO_DEBUG=0 is production mode, which refuses to start without its secrets.
Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from celery.schedules import crontab

from common.envconfig import (
    DEMO_DEA_REGISTRY_API_KEY,
    DEMO_IDME_CLIENT_SECRET,
    DEMO_SANDBOX_OPERATOR_PASSWORD,
    PUBLISHED_DEVELOPMENT_SECRET_KEY,
    SQLITE_OPTIONS,
    database_config,
    development_fernet_key,
    is_running_tests,
    keep_files_private,
    missing_variables,
    redis_url,
    refuse,
)
from common.service_settings import security_settings, static_storages
from ehr.api_scopes import SCOPES as API_SCOPES
from ehr.envconfig import production_problems
from ehr.logs import logging_config as ehr_logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG: bool = env.bool("DJANGO_DEBUG", default=True)
TESTING: bool = is_running_tests()
VAR_DIR = Path(env.str("EHR_VAR_DIR", default=str(BASE_DIR / "var")))
# Before anything is written: umask 077, var/ 0700 (ASVS-01).
keep_files_private(VAR_DIR)

# Production mode refuses to start on any of these; every problem is collected and
# reported at the end of this file, one line each (`ehr.envconfig.production_problems`).
_MISSING_IN_PRODUCTION: list[str] = (
    []
    if DEBUG
    else missing_variables(
        [
            "DJANGO_SECRET_KEY",
            "FIELD_ENCRYPTION_KEY",
            "DJANGO_ALLOWED_HOSTS",
            "DATABASE_URL",
            "REDIS_URL",
            "IDME_BASE_URL",
            "IDME_CLIENT_ID",
            "IDME_CLIENT_SECRET",
            # Every process (web, worker, beat) must sign with the same key: a key file
            # created per container would make each one's signatures unverifiable by the others.
            "EPCS_SIGNING_KEY",
            "DEA_REGISTRY_API_KEY",
        ]
    )
)

SECRET_KEY: str = env.str("DJANGO_SECRET_KEY", default=PUBLISHED_DEVELOPMENT_SECRET_KEY)


# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS: list[str] = env.list(
    "FIELD_ENCRYPTION_KEY", default=[development_fernet_key("field-encryption", SECRET_KEY)]
)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "audit",
    "providers",
    "mfa",
    "epcs_access",
    "eprescribe",
    "oauth2_provider",
    "api_access",
    "webhooks",
    "idme_client",
    "idme_sandbox",
]

MIDDLEWARE = [
    # The request id for the logs and the response header, then /healthz and /readyz answered
    # before any redirect or host check (ehr/logs.py, ehr/health.py, docs/operations.md).
    "ehr.logs.RequestIdMiddleware",
    "ehr.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise: static assets stay cacheable, everything else is no-store.
    "common.middleware.NoStoreMiddleware",
    "common.middleware.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ehr.middleware.SessionTimeoutMiddleware",
    # The practice the person works in, checked against their memberships on every request.
    "providers.practices.PracticeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "ehr.urls"
WSGI_APPLICATION = "ehr.wsgi.application"

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
                "providers.practices.practice_context",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
_sqlite_default = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": database_config(env, _sqlite_default)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
    # A file, not memory, so a Celery worker process started by a test sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    # PostgreSQL with statements that may travel with the COMMIT (ehr/db/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "ehr.db.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- People and sessions ----------------------------------------------------
AUTH_USER_MODEL = "providers.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing speed only; every rule still runs.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

SESSION_COOKIE_NAME = "ehr_sessionid"
CSRF_COOKIE_NAME = "ehr_csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# NIST-07: sign in again at least every 12 hours and after 30 minutes idle.
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_IDLE_TIMEOUT_SECONDS = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
# Changing MFA settings or approving EPCS needs a sign-in this recent (ASVS-05).
REAUTHENTICATION_WINDOW_SECONDS = 15 * 60

# --- Passwords: one limiter (ASVS-12; providers/backends.py, docs/architecture.md) ---
AUTHENTICATION_BACKENDS = ["providers.backends.LimitedModelBackend"]

# --- Static files -----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
os.makedirs(STATIC_ROOT, exist_ok=True)
STORAGES = static_storages(manifest=not (DEBUG or TESTING))

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

# --- Cache, broker, Celery --------------------------------------------------
REDIS_URL = redis_url()  # production mode without it is refused below

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    _celery_dir = VAR_DIR / ("celery-test" if TESTING else "celery")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / ("cache-test" if TESTING else "cache")),
        }
    }
    CELERY_BROKER_URL = "filesystem://"
    # kombu's filesystem transport with atomic writes (ehr/broker.py): a worker never reads half a message.
    CELERY_BROKER_TRANSPORT = "ehr.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
        # kombu sleeps this long whenever the worker's prefetch limit is reached; the 1 s
        # default made the embedded broker deliver about one task a second under load.
        "polling_interval": 0.1,
    }
    CELERY_RESULT_BACKEND = f"file://{_celery_dir / 'results'}"
    for _folder in ("queue", "processed", "results", "control"):
        os.makedirs(_celery_dir / _folder, exist_ok=True)

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A task is acknowledged after it ran, so a worker killed mid-task loses nothing.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- ID.me ------------------------------------------------------------------
# The sandbox plays ID.me in the embedded default; production points at https://api.id.me.
IDME_SANDBOX_ENABLED: bool = env.bool("IDME_SANDBOX_ENABLED", default=DEBUG)
IDME_BASE_URL: str = env.str("IDME_BASE_URL", default="http://127.0.0.1:8000/idme-sandbox").rstrip("/")
IDME_CLIENT_ID: str = env.str("IDME_CLIENT_ID", default="ehr-demo-client")
IDME_CLIENT_SECRET: str = env.str("IDME_CLIENT_SECRET", default=DEMO_IDME_CLIENT_SECRET)
IDME_PARTNER_CLIENT_ID: str = env.str("IDME_PARTNER_CLIENT_ID", default=IDME_CLIENT_ID)
IDME_PARTNER_CLIENT_SECRET: str = env.str("IDME_PARTNER_CLIENT_SECRET", default=IDME_CLIENT_SECRET)
IDME_SCOPE: str = env.str("IDME_SCOPE", default="openid http://idmanagement.gov/ns/assurance/ial/2/aal/2")
IDME_TIMEOUT_SECONDS: float = env.float("IDME_TIMEOUT_SECONDS", default=5.0)
# The sandbox encrypts its TOTP secrets and private keys with keys of its own.
IDME_SANDBOX_ENCRYPTION_KEYS: list[str] = env.list(
    "IDME_SANDBOX_ENCRYPTION_KEY", default=[development_fernet_key("idme-sandbox", SECRET_KEY)]
)
# Production mode refuses the sandbox unless this says the host is a demonstration.
IDME_SANDBOX_IN_PRODUCTION: bool = env.bool("IDME_SANDBOX_IN_PRODUCTION", default=False)
# The sandbox operator: signs in to the message outbox and the pharmacy network (patient data).
IDME_SANDBOX_OPERATOR_USERNAME: str = env.str("IDME_SANDBOX_OPERATOR_USERNAME", default="operator")
IDME_SANDBOX_OPERATOR_PASSWORD: str = env.str("IDME_SANDBOX_OPERATOR_PASSWORD", default=DEMO_SANDBOX_OPERATOR_PASSWORD)
# The sandbox reads only its own names (it runs alone from idme_sandbox/settings.py too):
# mounted here, `seed_idme_sandbox` registers this EHR's client and DEA registry key.
IDME_SANDBOX_EHR_CLIENT_ID: str = IDME_CLIENT_ID
IDME_SANDBOX_EHR_CLIENT_SECRET: str = IDME_CLIENT_SECRET

# --- DEA registration registry (providers verifies registrations; docs/dea-registry.md) ---
# The real service is the DEA's CSA registration validation, a subscription (NTIS). By default
# the sandbox's simulator (when the sandbox is mounted). Empty: verification says it is not configured.
DEA_REGISTRY_URL: str = env.str(
    "DEA_REGISTRY_URL", default=f"{IDME_BASE_URL}/dea-registry" if IDME_SANDBOX_ENABLED else ""
).rstrip("/")
DEA_REGISTRY_API_KEY: str = env.str("DEA_REGISTRY_API_KEY", default=DEMO_DEA_REGISTRY_API_KEY)
DEA_REGISTRY_TIMEOUT_SECONDS: float = env.float("DEA_REGISTRY_TIMEOUT_SECONDS", default=5.0)
IDME_SANDBOX_DEA_REGISTRY_API_KEY: str = DEA_REGISTRY_API_KEY  # the key the sandbox's simulator issues

# --- EPCS signing and pharmacy transmission (owned by eprescribe; docs/eprescribe.md) ---
# Ed25519 private key (PEM). Empty: a key file under EHR_VAR_DIR, created on first use (0600).
EPCS_SIGNING_KEY: str = env.str("EPCS_SIGNING_KEY", default="")
EPCS_SIGNING_KEY_FILE = Path(env.str("EPCS_SIGNING_KEY_FILE", default=str(VAR_DIR / "epcs-signing-key.pem")))
# Public keys (PEM blocks) of retired signing keys, so older signatures still verify.
EPCS_RETIRED_PUBLIC_KEYS: str = env.str("EPCS_RETIRED_PUBLIC_KEYS", default="")
# Where NewRx messages go; by default the sandbox's pharmacy-network simulator (when the
# sandbox is mounted). Empty: every transmission fails, visibly, until it is configured.
PHARMACY_GATEWAY_URL: str = env.str(
    "PHARMACY_GATEWAY_URL", default=f"{IDME_BASE_URL}/pharmacy-network/newrx" if IDME_SANDBOX_ENABLED else ""
)
PHARMACY_GATEWAY_TIMEOUT_SECONDS: float = env.float("PHARMACY_GATEWAY_TIMEOUT_SECONDS", default=10.0)
EPCS_TRANSMISSION_MAX_RETRIES: int = env.int("EPCS_TRANSMISSION_MAX_RETRIES", default=5)
EPCS_TRANSMISSION_BACKOFF_SECONDS: int = env.int("EPCS_TRANSMISSION_BACKOFF_SECONDS", default=2)
EPCS_TRANSMISSION_BACKOFF_MAX_SECONDS: int = env.int("EPCS_TRANSMISSION_BACKOFF_MAX_SECONDS", default=300)
# --- end of the eprescribe block ----------------------------------------------------

# Production mode refuses to start on any missing or unsafe setting above, one line each.
if not DEBUG:
    refuse(
        _MISSING_IN_PRODUCTION
        + production_problems(
            secret_key=SECRET_KEY,
            fernet_keys={
                "FIELD_ENCRYPTION_KEY": FIELD_ENCRYPTION_KEYS,
                "IDME_SANDBOX_ENCRYPTION_KEY": IDME_SANDBOX_ENCRYPTION_KEYS,
            },
            allowed_hosts=ALLOWED_HOSTS,
            idme_base_url=IDME_BASE_URL,
            idme_client_secrets={
                "IDME_CLIENT_SECRET": IDME_CLIENT_SECRET,
                "IDME_PARTNER_CLIENT_SECRET": IDME_PARTNER_CLIENT_SECRET,
            },
            sandbox_enabled=IDME_SANDBOX_ENABLED,
            sandbox_in_production=IDME_SANDBOX_IN_PRODUCTION,
            sandbox_operator_password=IDME_SANDBOX_OPERATOR_PASSWORD,
            dea_registry_api_key=DEA_REGISTRY_API_KEY,
        )
    )

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    # A token in the Authorization header wins over a session cookie sent alongside it
    # (docs/api.md "Authentication"): personal access tokens, then OAuth access tokens.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api_access.authentication.PersonalAccessTokenAuthentication",
        "api_access.authentication.OAuthAccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "ehr.api_permissions.TokenScopes"],
    "DEFAULT_SCHEMA_CLASS": "ehr.api_schema.ProblemAutoSchema",
    "DEFAULT_PARSER_CLASSES": ["ehr.api.SafeJSONParser"],
    "EXCEPTION_HANDLER": "ehr.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "ehr.api_throttle.ApiAnonRateThrottle",
        "ehr.api_throttle.ApiUserRateThrottle",
        "ehr.api_throttle.ApiTokenRateThrottle",
    ],
}
# Rate limits of the REST API (ehr.api_throttle; docs/api.md, "Limits"): per user, per token,
# per client address without credentials, and the stricter one on two-factor steps.
API_RATE_LIMITS: dict[str, str] = {
    "anon": env.str("API_RATE_LIMIT_ANON", default="30/minute"),
    "user": env.str("API_RATE_LIMIT_USER", default="300/minute"),
    "token": env.str("API_RATE_LIMIT_TOKEN", default="240/minute"),
    "sensitive": env.str("API_RATE_LIMIT_SENSITIVE", default="20/minute"),
}
# Under these paths every error is an RFC 9457 problem (common.problems, ehr.api).
PROBLEM_DETAILS_PATHS = ("/api/",)
CSRF_FAILURE_VIEW = "ehr.api.csrf_failure"
# --- OAuth 2.0 for third-party apps (api_access; docs/api.md "Authentication") ----------
OAUTH2_PROVIDER = {
    "SCOPES": API_SCOPES,
    "DEFAULT_SCOPES": ["profile:read"],
    "PKCE_REQUIRED": True,  # authorization code with S256 only
    # RFC 9700 (OAuth 2.0 Security BCP), every gate on: no implicit or password grant, no
    # "plain" PKCE, tokens only in the Authorization header, `iss` in the authorization
    # response, access and refresh tokens stored as hashes (ASVS-01).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 60 * 60,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    # A refresh token is used once: each refresh returns a new one and revokes the old.
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 30 * 24 * 60 * 60,
    # A refresh token presented twice (stolen and replayed) revokes the whole chain.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REQUEST_APPROVAL_PROMPT": "force",  # the consent screen every time
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if not DEBUG else ["http", "https"],
    "ALLOWED_SCHEMES": ["https"] if not DEBUG else ["http", "https"],
}
# DOT's own application model (named so migrations that point to it resolve); its practice
# is a side table, api_access.ApplicationPractice (docs/api.md "Authentication").
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# Personal access tokens: default and longest lifetime in days.
API_TOKEN_DEFAULT_DAYS = 90
API_TOKEN_MAX_DAYS = 365
# A token that carries epcs:sign works at most this long after the person authenticated for it
# (created the personal token, or consented for the app): like a session, 12 hours (NIST-07).
API_SIGNING_TOKEN_SECONDS = SESSION_COOKIE_AGE

SPECTACULAR_SETTINGS = {
    "TITLE": "EHR Provider Settings API",
    "DESCRIPTION": (
        "Provider settings, ID.me MFA devices and EPCS signing.\n\n"
        "Every error is an RFC 9457 problem (application/problem+json: type, title, status, detail, "
        "a stable `code`, and field `errors`); a field the operation does not accept is refused. "
        "Calls are rate-limited per user and per token, more strictly on two-factor steps: "
        "429 `throttled` with Retry-After. Bodies over 256 KiB are 413. See docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies are their own components, so a request's `additionalProperties: false`
    # (unknown fields are refused, ehr.api.RejectUnknownFieldsMixin) does not bind responses.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

# --- Production hardening (checked by `manage.py check --deploy`) ------------
vars().update(security_settings(env, production=not DEBUG))

# Production: one JSON object per line (time, level, logger, message, request id, user and
# practice ids when known), secrets and patient-data keys redacted (ehr/logs.py). LOG_FORMAT
# chooses: "json" (the production default) or "plain" (the development default).
LOG_FORMAT: str = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = ehr_logging_config(level=env.str("LOG_LEVEL", default="INFO"), json_lines=LOG_FORMAT == "json")
# The worker and beat log through LOGGING too, instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Audit trail (owned by audit; docs/audit.md) ------------------------------
# A signed checkpoint of each chain at least this often while events arrive.
AUDIT_CHECKPOINT_INTERVAL_SECONDS: int = env.int("AUDIT_CHECKPOINT_INTERVAL_SECONDS", default=120)
# After commit, a thread of each process sequences the chain (the request does not wait);
# off: the committing thread sequences before it returns (the test run's default, for determinism).
AUDIT_SEQUENCE_IN_BACKGROUND: bool = env.bool("AUDIT_SEQUENCE_IN_BACKGROUND", default=not TESTING)
# A dedicated sequencer process (`manage.py sequence_audit --follow`) seals every chain's
# waiting events every AUDIT_SEQUENCER_POLL_SECONDS; with it on, writers register no
# after-commit hook at all (docs/audit.md).
AUDIT_SEQUENCER_FOLLOWS: bool = env.bool("AUDIT_SEQUENCER_FOLLOWS", default=False)
AUDIT_SEQUENCER_POLL_SECONDS: float = env.float("AUDIT_SEQUENCER_POLL_SECONDS", default=0.2)
# The sweep sequences what the after-commit hook left and signs due checkpoints.
AUDIT_SWEEP_SECONDS: float = env.float("AUDIT_SWEEP_SECONDS", default=30.0)

# --- Webhooks (owned by webhooks; docs/api.md "Webhooks") ---------------------------------
# Attempts per delivery, and the backoff: the n-th retry waits base x 3^(n-1) seconds.
WEBHOOKS_MAX_ATTEMPTS: int = env.int("WEBHOOKS_MAX_ATTEMPTS", default=8)
WEBHOOKS_RETRY_BASE_SECONDS: float = env.float("WEBHOOKS_RETRY_BASE_SECONDS", default=30.0)
# An endpoint is disabled after this many consecutive failed attempts (any success resets it).
WEBHOOKS_DISABLE_AFTER_FAILURES: int = env.int("WEBHOOKS_DISABLE_AFTER_FAILURES", default=15)
WEBHOOKS_TIMEOUT_SECONDS: float = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
# Beat re-queues pending deliveries this overdue (a queued message lost to a broker restart).
WEBHOOKS_SWEEP_SECONDS: float = env.float("WEBHOOKS_SWEEP_SECONDS", default=60.0)
# Server-side request forgery guard (webhooks/urlguard.py): endpoints must be https and public;
# this flag also allows http(s) to localhost/127.0.0.1/::1, for tests and the demo only.
WEBHOOKS_ALLOW_LOOPBACK: bool = env.bool("WEBHOOKS_ALLOW_LOOPBACK", default=DEBUG or TESTING)

CELERY_BEAT_SCHEDULE = {
    "sweep-webhook-deliveries": {
        "task": "webhooks.sweep",
        "schedule": WEBHOOKS_SWEEP_SECONDS,
    },
    "sequence-audit-trail": {
        "task": "audit.sequence_audit_trail",
        "schedule": AUDIT_SWEEP_SECONDS,
    },
    "revoke-lapsed-epcs-permissions": {
        "task": "epcs_access.revoke_lapsed_epcs_permissions",
        "schedule": crontab(hour=0, minute=5),
    },
    "daily-incident-report": {
        "task": "audit.daily_incident_report",
        "schedule": crontab(hour=0, minute=15),
    },
}

# --- Email (lost-device notices to access managers) --------------------------
# EMAIL_URL as django-environ reads it, e.g. smtp+tls://user:pass@mail.example.org:587;
# the embedded default prints mail to the console.
vars().update(env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25"))
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="EHR <ehr@localhost>")
