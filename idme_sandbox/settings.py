"""Settings for the ID.me sandbox running as its own service: DJANGO_SETTINGS_MODULE=idme_sandbox.settings.

The embedded default mounts the sandbox inside the EHR (`ehr.settings`, at /idme-sandbox/);
this module runs it alone, from its own variables, with nothing of the EHR installed or
imported: only Django, the sandbox and the neutral `common` package. The sandbox answers at
/idme-sandbox/ here too (`idme_sandbox.service_urls`), so the EHR's IDME_BASE_URL is
`http://HOST:PORT/idme-sandbox` either way.

With no variables at all this is a development service: SQLite and a file cache under
var/idme-sandbox/. DJANGO_DEBUG=0 is production mode, which refuses to start without its
secrets and without IDME_SANDBOX_IN_PRODUCTION=1 (the sandbox is not ID.me: only a
demonstration host runs it). Every variable is listed in docs/idme-sandbox.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

from common.envconfig import (
    DEMO_DEA_REGISTRY_API_KEY,
    DEMO_IDME_CLIENT_SECRET,
    DEMO_SANDBOX_OPERATOR_PASSWORD,
    PUBLISHED_DEVELOPMENT_SECRET_KEY,
    SQLITE_OPTIONS,
    allowed_hosts_problems,
    database_config,
    demo_value_problems,
    development_fernet_key,
    fernet_problems,
    given,
    is_running_tests,
    keep_files_private,
    missing_variables,
    redis_url,
    refuse,
    secret_key_problems,
)
from common.service_settings import logging_config, security_settings, static_storages

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG: bool = env.bool("DJANGO_DEBUG", default=True)
TESTING: bool = is_running_tests()
VAR_DIR = Path(env.str("IDME_SANDBOX_VAR_DIR", default=str(BASE_DIR / "var" / "idme-sandbox")))
# Before anything is written: umask 077, the var folder 0700 (ASVS-01).
keep_files_private(VAR_DIR)

# The database and the cache: the sandbox's own variable first, so one environment can
# describe both services; else the usual name of this process's database and cache.
DATABASE_VARIABLES = ("IDME_SANDBOX_DATABASE_URL", "DATABASE_URL")
REDIS_VARIABLES = ("IDME_SANDBOX_REDIS_URL", "REDIS_URL")

# Production mode refuses to start on any of these, one line each (collected below).
_MISSING_IN_PRODUCTION: list[str] = (
    []
    if DEBUG
    else missing_variables(
        [
            "DJANGO_SECRET_KEY",
            "IDME_SANDBOX_ENCRYPTION_KEY",
            "DJANGO_ALLOWED_HOSTS",
            next((name for name in DATABASE_VARIABLES if given(name)), "DATABASE_URL"),
            # The attempt limiters count in the cache: every worker must see the same counts.
            next((name for name in REDIS_VARIABLES if given(name)), "REDIS_URL"),
        ]
    )
)

SECRET_KEY: str = env.str("DJANGO_SECRET_KEY", default=PUBLISHED_DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "idme_sandbox",
]
# No Django admin here: the sandbox's own pages (operator sign-in, outbox, pharmacy network)
# and its management commands (`seed_idme_sandbox`, `idme_register_client`,
# `idme_rotate_keys`) do what a demonstration host needs. Mounted in the EHR, the EHR's
# admin shows the sandbox's models as well.

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "common.middleware.NoStoreMiddleware",
    "common.middleware.RequestBodyLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "idme_sandbox.service_urls"
WSGI_APPLICATION = "idme_sandbox.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The shared includes (templates/includes/: form fields and errors) both systems use.
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {"default": database_config(env, f"sqlite:///{VAR_DIR / 'db.sqlite3'}", DATABASE_VARIABLES)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (the attempt limiters, pending text/call codes) ---------------------
_redis = next((url for url in (redis_url(name) for name in REDIS_VARIABLES) if url), None)
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis}
        if _redis
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / ("cache-test" if TESTING else "cache")),
        }
    )
}

# --- The sandbox's accounts --------------------------------------------------
# Rules for the passwords of sandbox accounts (sign-up), as ID.me words them.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The sandbox's cookies have their own names (idme_session, idme_operator_session, and this
# one), so a browser signed in to the EHR on the same host keeps both: cookies ignore ports.
CSRF_COOKIE_NAME = "idme_csrftoken"

# TOTP secrets and private keys are encrypted with these Fernet keys (comma-separated;
# the first encrypts, all decrypt).
IDME_SANDBOX_ENCRYPTION_KEYS: list[str] = env.list(
    "IDME_SANDBOX_ENCRYPTION_KEY", default=[development_fernet_key("idme-sandbox", SECRET_KEY)]
)
# Production mode runs the sandbox only when this says the host is a demonstration.
IDME_SANDBOX_IN_PRODUCTION: bool = env.bool("IDME_SANDBOX_IN_PRODUCTION", default=False)
# The sandbox operator: signs in to the message outbox and the pharmacy network (patient data).
IDME_SANDBOX_OPERATOR_USERNAME: str = env.str("IDME_SANDBOX_OPERATOR_USERNAME", default="operator")
IDME_SANDBOX_OPERATOR_PASSWORD: str = env.str("IDME_SANDBOX_OPERATOR_PASSWORD", default=DEMO_SANDBOX_OPERATOR_PASSWORD)
# What `seed_idme_sandbox` registers for the EHR: its OIDC / partner client and its DEA
# registry subscriber key (the EHR's IDME_CLIENT_ID, IDME_CLIENT_SECRET, DEA_REGISTRY_API_KEY).
IDME_SANDBOX_EHR_CLIENT_ID: str = env.str("IDME_SANDBOX_EHR_CLIENT_ID", default="ehr-demo-client")
IDME_SANDBOX_EHR_CLIENT_SECRET: str = env.str("IDME_SANDBOX_EHR_CLIENT_SECRET", default=DEMO_IDME_CLIENT_SECRET)
IDME_SANDBOX_DEA_REGISTRY_API_KEY: str = env.str("IDME_SANDBOX_DEA_REGISTRY_API_KEY", default=DEMO_DEA_REGISTRY_API_KEY)

# --- Static files (the sandbox's own and the shared stylesheet in static/) -------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
os.makedirs(STATIC_ROOT, exist_ok=True)
STORAGES = static_storages(manifest=not (DEBUG or TESTING))

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True
# A body above this is refused with 413 (`common.middleware.RequestBodyLimitMiddleware`).
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

# --- Production hardening (checked by `manage.py check --deploy`) ------------
vars().update(security_settings(env, production=not DEBUG))

LOGGING = logging_config(env)


def _production_problems() -> list[str]:
    """One line per unsafe production setting (ASVS-08); unset variables are named above."""
    problems: list[str] = []
    if not IDME_SANDBOX_IN_PRODUCTION:
        problems.append(
            "DJANGO_DEBUG=0: the ID.me sandbox is not ID.me; "
            "set IDME_SANDBOX_IN_PRODUCTION=1 only on a demonstration host"
        )
    if given("DJANGO_SECRET_KEY"):
        problems += secret_key_problems(SECRET_KEY)
    if given("IDME_SANDBOX_ENCRYPTION_KEY"):
        problems += fernet_problems("IDME_SANDBOX_ENCRYPTION_KEY", IDME_SANDBOX_ENCRYPTION_KEYS)
    problems += allowed_hosts_problems(ALLOWED_HOSTS)
    problems += demo_value_problems(
        "IDME_SANDBOX_OPERATOR_PASSWORD", IDME_SANDBOX_OPERATOR_PASSWORD, DEMO_SANDBOX_OPERATOR_PASSWORD
    )
    problems += demo_value_problems(
        "IDME_SANDBOX_EHR_CLIENT_SECRET", IDME_SANDBOX_EHR_CLIENT_SECRET, DEMO_IDME_CLIENT_SECRET
    )
    problems += demo_value_problems(
        "IDME_SANDBOX_DEA_REGISTRY_API_KEY", IDME_SANDBOX_DEA_REGISTRY_API_KEY, DEMO_DEA_REGISTRY_API_KEY
    )
    return problems


if not DEBUG:
    refuse(_MISSING_IN_PRODUCTION + _production_problems())
