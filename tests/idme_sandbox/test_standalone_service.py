"""The sandbox runs as its own service, from its own settings (`idme_sandbox.settings`).

A real process: `manage.py migrate` and `seed_idme_sandbox` on a fresh SQLite file, then
gunicorn serving `idme_sandbox.wsgi` on a free port, with every EHR package (`ehr`, the EHR's
apps, `idme_client`, `dea_registry_client`) made unimportable in that process. The EHR's typed
client then talks to it over HTTP, as the EHR does in `docker compose`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import requests
from cryptography.fernet import Fernet

from idme_client.partner import PartnerClient
from idme_sandbox.demo import DEMO_ALICE_TOTP_SECRET, DEMO_ALICE_UUID, DEMO_DEVICE_NAME
from tests.ehr.test_settings import run_django

ROOT = Path(__file__).resolve().parents[2]
EHR_PACKAGES = ("ehr", "providers", "mfa", "epcs_access", "eprescribe", "audit", "idme_client", "dea_registry_client")
CLIENT_ID = "standalone-ehr"
CLIENT_SECRET = "standalone-ehr-secret-4f9c2a"
STARTUP_SECONDS = 60

# Runs gunicorn in a process where importing any EHR package fails (sys.modules[name] = None).
SERVE_WITHOUT_THE_EHR = f"""
import sys
for name in {EHR_PACKAGES!r}:
    sys.modules[name] = None
from gunicorn.app.wsgiapp import run
sys.argv = ["gunicorn", "idme_sandbox.wsgi", "--bind", sys.argv[1], "--workers", "1", "--threads", "4"]
run()
"""


def service_environment(var_dir: Path) -> dict[str, str]:
    """This process's environment without the EHR's and Django's variables, plus the sandbox's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "IDME_", "EHR_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "idme_sandbox.settings",
            "IDME_SANDBOX_VAR_DIR": str(var_dir),
            "IDME_SANDBOX_DATABASE_URL": f"sqlite:///{var_dir / 'sandbox.sqlite3'}",
            "IDME_SANDBOX_EHR_CLIENT_ID": CLIENT_ID,
            "IDME_SANDBOX_EHR_CLIENT_SECRET": CLIENT_SECRET,
        }
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Service:
    root: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[str]

    @property
    def base_url(self) -> str:
        """What the EHR's IDME_BASE_URL would be."""
        return f"{self.root}/idme-sandbox"


@pytest.fixture(scope="module")
def sandbox_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    var_dir = tmp_path_factory.mktemp("idme-sandbox-service")
    env = service_environment(var_dir)
    for command in (["migrate", "--noinput"], ["seed_idme_sandbox"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
    address = f"127.0.0.1:{free_port()}"
    log = (var_dir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_WITHOUT_THE_EHR, address],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    service = Service(root=f"http://{address}", process=process)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, (var_dir / "server.log").read_text()
            try:
                requests.get(f"{service.base_url}/oidc/.well-known/openid-configuration", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (var_dir / "server.log").read_text()
                time.sleep(0.2)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        log.close()


def test_the_service_publishes_its_openid_configuration(sandbox_service: Service) -> None:
    response = requests.get(f"{sandbox_service.base_url}/oidc/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["issuer"] == sandbox_service.base_url
    assert document["authorization_endpoint"] == f"{sandbox_service.base_url}/oauth/authorize"
    assert document["token_endpoint"] == f"{sandbox_service.base_url}/oauth/token"
    keys = requests.get(document["jwks_uri"], timeout=10)
    assert keys.status_code == 200
    assert keys.json()["keys"], "no signing key published"


def test_the_ehrs_partner_client_lists_devices_and_verifies_a_code(sandbox_service: Service) -> None:
    """The EHR's typed client, with the credentials `seed_idme_sandbox` registered from the
    sandbox's own settings; the code generator secret is stored encrypted with the sandbox's keys."""
    partner = PartnerClient(
        base_url=sandbox_service.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, timeout=10
    )
    devices = partner.list_devices(DEMO_ALICE_UUID)
    code_generator = next(device for device in devices if device.name == DEMO_DEVICE_NAME)
    assert code_generator.type == "totp"
    assert partner.verify_totp(DEMO_ALICE_UUID, code_generator.id, pyotp.TOTP(DEMO_ALICE_TOTP_SECRET).now()).allowed


@pytest.mark.req("ASVS-08")
@pytest.mark.req("ASVS-10")
def test_the_service_keeps_the_security_headers_and_the_body_limit(sandbox_service: Service) -> None:
    page = requests.get(f"{sandbox_service.base_url}/sign-in/", timeout=10)
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "no-store" in page.headers["Cache-Control"]
    assert page.headers["X-Frame-Options"] == "DENY"
    # Its own CSRF cookie: the EHR's (ehr_csrftoken) on the same host is left alone.
    assert "idme_csrftoken" in page.cookies
    # The page's stylesheets (the sandbox's own and the shared one) are served by the service.
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert len(stylesheets) == 2, stylesheets
    for href in stylesheets:
        assert requests.get(sandbox_service.root + href, timeout=10).status_code == 200, href
    too_large = requests.post(
        f"{sandbox_service.base_url}/oauth/token",
        data=b"x" * (256 * 1024 + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        timeout=10,
    )
    assert too_large.status_code == 413
    assert too_large.json()["error"] == "request_too_large"


# --- production mode of the service's own settings -----------------------------------
SANDBOX_PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "idme_sandbox.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3y-" + "Zq8#vT2!pL9@xW4$mN7%rB1^cF6&hJ0*" * 2,
    "IDME_SANDBOX_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "DJANGO_ALLOWED_HOSTS": "idme.example.org",
    "IDME_SANDBOX_DATABASE_URL": "postgres://idme@db.example.org:5432/idme",
    "IDME_SANDBOX_REDIS_URL": "redis://cache.example.org:6379/1",
    "IDME_SANDBOX_IN_PRODUCTION": "1",
    "IDME_SANDBOX_OPERATOR_PASSWORD": "Operator-Pass-Of-This-Host",
    "IDME_SANDBOX_EHR_CLIENT_SECRET": "the-secret-this-host-gave-the-ehr",
    "IDME_SANDBOX_DEA_REGISTRY_API_KEY": "the-registry-key-this-host-issued",
    "IDME_SANDBOX_VAR_DIR": str(ROOT / "var" / "settings-test-idme"),
}


@pytest.mark.req("ASVS-08")
def test_production_mode_starts_clean_with_its_own_variables() -> None:
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], SANDBOX_PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.req("ASVS-08")
def test_production_mode_names_each_missing_variable_of_the_sandbox() -> None:
    env = {"DJANGO_SETTINGS_MODULE": "idme_sandbox.settings", "DJANGO_DEBUG": "0", "IDME_SANDBOX_IN_PRODUCTION": "1"}
    result = run_django(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    missing = result.stderr.strip().splitlines()[0]
    for name in (
        "DJANGO_SECRET_KEY",
        "IDME_SANDBOX_ENCRYPTION_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
    ):
        assert name in missing
    # The EHR's variables are none of the sandbox's business.
    for name in ("FIELD_ENCRYPTION_KEY", "IDME_BASE_URL", "IDME_CLIENT_ID"):
        assert name not in result.stderr


@pytest.mark.req("ASVS-08")
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"IDME_SANDBOX_IN_PRODUCTION": "0"}, "the ID.me sandbox is not ID.me"),
        ({"IDME_SANDBOX_ENCRYPTION_KEY": "c2hvcnQ="}, "IDME_SANDBOX_ENCRYPTION_KEY is not a list of Fernet keys"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY is too weak"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS contains '*'"),
        ({"IDME_SANDBOX_OPERATOR_PASSWORD": "Demo-Operator-2026"}, "IDME_SANDBOX_OPERATOR_PASSWORD must be set"),
        (
            {"IDME_SANDBOX_EHR_CLIENT_SECRET": "ehr-demo-client-secret-change-me"},
            "IDME_SANDBOX_EHR_CLIENT_SECRET must be set",
        ),
        (
            {"IDME_SANDBOX_DEA_REGISTRY_API_KEY": "ehr-demo-dea-registry-key-change-me"},
            "IDME_SANDBOX_DEA_REGISTRY_API_KEY must be set",
        ),
    ],
)
def test_production_mode_refuses_each_unsafe_setting_with_one_line(overrides: dict[str, str], expected: str) -> None:
    result = run_django(["manage.py", "check"], SANDBOX_PRODUCTION_ENV | overrides)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Configuration error: ")
    assert expected in lines[0]
