"""Settings in both modes, run in a fresh interpreter as the process would start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET = "k3y-" + "Zq8#vT2!pL9@xW4$mN7%rB1^cF6&hJ0*" * 2

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": STRONG_SECRET,
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "DJANGO_ALLOWED_HOSTS": "ehr.example.org",
    "DATABASE_URL": "postgres://ehr@db.example.org:5432/ehr",
    "REDIS_URL": "redis://cache.example.org:6379/0",
    "IDME_BASE_URL": "https://api.id.me",
    "IDME_CLIENT_ID": "client",
    "IDME_CLIENT_SECRET": "secret",
    "DEA_REGISTRY_API_KEY": "the-key-of-this-deployments-registry-subscription",
    "EPCS_SIGNING_KEY": Ed25519PrivateKey.generate()
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode(),
}


def run_django(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "IDME_"))}
    clean.pop("EHR_TESTING", None)
    clean.update(env)
    clean.setdefault("EHR_VAR_DIR", str(ROOT / "var" / "settings-test"))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def test_development_default_needs_no_variables() -> None:
    result = run_django(["manage.py", "check"], {})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_and_names_each_missing_variable() -> None:
    result = run_django(["manage.py", "check"], {"DJANGO_DEBUG": "0"})
    assert result.returncode != 0
    for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_production_names_only_what_is_missing() -> None:
    env = dict(PRODUCTION_ENV)
    del env["FIELD_ENCRYPTION_KEY"]
    result = run_django(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr
    assert "DJANGO_SECRET_KEY" not in result.stderr


@pytest.mark.req("ASVS-08")
def test_production_passes_check_deploy_without_warnings() -> None:
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysq1://nope"),
        ("DATABASE_URL", "postgres://"),
        ("DATABASE_URL", "not a url"),
        ("REDIS_URL", "http://cache:6379"),
        ("REDIS_URL", "redis://cache:notaport/0"),
    ],
)
def test_malformed_service_urls_get_one_line_naming_the_variable(variable: str, value: str) -> None:
    result = run_django(["manage.py", "check"], {variable: value})
    assert result.returncode != 0
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.req("ASVS-08")
def test_security_headers_on_every_page(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_production_logs_one_json_object_per_line() -> None:
    result = run_django(
        ["manage.py", "shell", "-c", "import logging; logging.getLogger('ehr.check').warning('hello %s', 'there')"],
        PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert line["logger"] == "ehr.check" and line["level"] == "WARNING" and line["message"] == "hello there"


def test_development_logs_plain_lines() -> None:
    result = run_django(
        ["manage.py", "shell", "-c", "import logging; logging.getLogger('ehr.check').warning('hi')"], {}
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING ehr.check [None] hi" in result.stderr
