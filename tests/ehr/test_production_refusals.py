"""Production mode refuses unsafe settings, one line per problem (ASVS-08)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from common.envconfig import (
    DEMO_DEA_REGISTRY_API_KEY,
    DEMO_IDME_CLIENT_SECRET,
    DEMO_SANDBOX_OPERATOR_PASSWORD,
    PUBLISHED_DEVELOPMENT_SECRET_KEY,
)
from tests.ehr.test_settings import PRODUCTION_ENV, run_django

CHECK = ["manage.py", "check"]


def refused(overrides: dict[str, str]) -> list[str]:
    """The lines production mode stops with (it must stop)."""
    result = run_django(CHECK, PRODUCTION_ENV | overrides)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("Configuration error: ") for line in lines), lines
    return lines


@pytest.mark.req("ASVS-08")
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"DJANGO_SECRET_KEY": "short-but-random-Zq8#vT2!pL9@xW4$"}, "DJANGO_SECRET_KEY is too weak"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "DJANGO_SECRET_KEY is too weak"),
        ({"DJANGO_SECRET_KEY": PUBLISHED_DEVELOPMENT_SECRET_KEY}, "DJANGO_SECRET_KEY is a published development value"),
        ({"FIELD_ENCRYPTION_KEY": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEY is not a list of Fernet keys: key 1"),
        (
            {"FIELD_ENCRYPTION_KEY": f"{Fernet.generate_key().decode()},{'x' * 44}"},
            "FIELD_ENCRYPTION_KEY is not a list of Fernet keys: key 2",
        ),
        ({"IDME_SANDBOX_ENCRYPTION_KEY": "c2hvcnQ="}, "IDME_SANDBOX_ENCRYPTION_KEY is not a list of Fernet keys"),
        ({"DJANGO_ALLOWED_HOSTS": "ehr.example.org,*"}, "DJANGO_ALLOWED_HOSTS contains '*'"),
        ({"DEA_REGISTRY_API_KEY": DEMO_DEA_REGISTRY_API_KEY}, "DEA_REGISTRY_API_KEY is the published demo key"),
        ({"IDME_CLIENT_SECRET": DEMO_IDME_CLIENT_SECRET}, "IDME_CLIENT_SECRET is the published demo client secret"),
        (
            {"IDME_PARTNER_CLIENT_SECRET": DEMO_IDME_CLIENT_SECRET},
            "IDME_PARTNER_CLIENT_SECRET is the published demo client secret",
        ),
        ({"IDME_BASE_URL": "http://api.id.me"}, "IDME_BASE_URL must be an https:// URL"),
        ({"IDME_SANDBOX_ENABLED": "1"}, "IDME_SANDBOX_ENABLED=1: the ID.me sandbox is not ID.me"),
    ],
)
def test_each_unsafe_setting_is_refused_with_one_line(overrides: dict[str, str], expected: str) -> None:
    lines = refused(overrides)
    assert len(lines) == 1, lines
    assert expected in lines[0]
    # The line names the problem, never the secret itself.
    for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "IDME_SANDBOX_ENCRYPTION_KEY"):
        if name in overrides:
            assert overrides[name] not in lines[0]


@pytest.mark.req("ASVS-08")
def test_every_problem_gets_its_own_line() -> None:
    lines = refused(
        {
            "DJANGO_SECRET_KEY": "too-short",
            "FIELD_ENCRYPTION_KEY": "nope",
            "DJANGO_ALLOWED_HOSTS": "*",
            "IDME_CLIENT_SECRET": DEMO_IDME_CLIENT_SECRET,
            "IDME_BASE_URL": "http://idme.example.org",
            "IDME_SANDBOX_ENABLED": "1",
        }
    )
    # The partner secret, unset, is the client secret: one problem, one line.
    assert len(lines) == 6, lines
    for variable in (
        "DJANGO_SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "IDME_CLIENT_SECRET",
        "IDME_BASE_URL",
        "IDME_SANDBOX_ENABLED",
    ):
        assert sum(line.startswith(f"Configuration error: {variable}") for line in lines) == 1, (variable, lines)


@pytest.mark.req("ASVS-08")
def test_a_demonstration_host_may_run_the_sandbox_with_its_own_operator_password() -> None:
    demo = {"IDME_SANDBOX_ENABLED": "1", "IDME_SANDBOX_IN_PRODUCTION": "1", "IDME_BASE_URL": "http://idme:8001/x"}
    lines = refused(demo)
    assert lines == [
        "Configuration error: IDME_SANDBOX_OPERATOR_PASSWORD must be set, to a value other than the demo one"
    ]
    assert refused(demo | {"IDME_SANDBOX_OPERATOR_PASSWORD": DEMO_SANDBOX_OPERATOR_PASSWORD}) == lines
    started = run_django(
        CHECK, PRODUCTION_ENV | demo | {"IDME_SANDBOX_OPERATOR_PASSWORD": "Operator-Pass-Of-This-Host"}
    )
    assert started.returncode == 0, started.stderr
    assert "no issues" in started.stdout


@pytest.mark.req("ASVS-08")
@pytest.mark.req("DEA-16")
def test_production_needs_one_signing_key_for_every_process() -> None:
    """Without EPCS_SIGNING_KEY each process (web, worker, beat) would make a key file of its
    own, and none could verify the others' signatures and audit checkpoints."""
    without_key = {name: value for name, value in PRODUCTION_ENV.items() if name != "EPCS_SIGNING_KEY"}
    result = run_django(CHECK, without_key)
    assert result.returncode != 0
    assert "EPCS_SIGNING_KEY" in result.stderr and "Traceback" not in result.stderr
