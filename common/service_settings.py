"""Django settings both services set alike: the EHR (`ehr.settings`) and the sandbox alone
(`idme_sandbox.settings`). Each settings module takes these values by name, so a hardening
rule is written once.

Reads the environment variables `DJANGO_SECURE_SSL_REDIRECT` and `LOG_LEVEL`.
"""

from __future__ import annotations

import environ


def static_storages(*, manifest: bool) -> dict[str, dict[str, str]]:
    """Hashed, compressed static files (WhiteNoise's manifest) when `manifest`, else plain ones."""
    return {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": (
                "whitenoise.storage.CompressedManifestStaticFilesStorage"
                if manifest
                else "django.contrib.staticfiles.storage.StaticFilesStorage"
            )
        },
    }


def security_settings(env: environ.Env, *, production: bool) -> dict[str, object]:
    """Headers on every response; in production also HTTPS only, HSTS and Secure cookies
    (what `manage.py check --deploy` asks for, ASVS-08)."""
    settings: dict[str, object] = {
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
    }
    if production:
        settings |= {
            "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
            "SECURE_SSL_REDIRECT": env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True),
            "SECURE_HSTS_SECONDS": 31_536_000,
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
            "SECURE_HSTS_PRELOAD": True,
            "SESSION_COOKIE_SECURE": True,
            "CSRF_COOKIE_SECURE": True,
        }
    return settings


def logging_config(env: environ.Env) -> dict[str, object]:
    """One plain line per record on the console, at `LOG_LEVEL` (default INFO)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    }
