"""`make prod-check`: the production-like stack, started from this checkout without containers,
walked in Chromium, then stopped (docs/operations.md, "prod-check").

What runs, each process from the same code as a deployment:
  PostgreSQL   two fresh databases (EHR, ID.me sandbox) on the configured server, dropped at the end
  Redis        its own redis-server on a free 18xxx port (db 0 the EHR, db 1 the sandbox)
  EHR          gunicorn ehr.wsgi, DJANGO_DEBUG=0 and every production variable (throwaway keys
               generated for this run, never written anywhere but its temporary folder)
  ID.me        gunicorn idme_sandbox.wsgi with its own settings, database and keys
  worker, beat celery -A ehr worker / beat on that Redis
  proxy        Caddy (deploy/Caddyfile): TLS with its local CA for https://ehr.localhost:PORT and
               https://idme.localhost:PORT

Then, in Chromium (the proxy's root CA pinned with --ignore-certificate-errors-spki-list, no
blanket ignore_https_errors): sign in; the help article's device round trip (Update MFA Device,
a new Code Generator at ID.me, return, select it as the primary device); signing two ready
prescriptions with a code and seeing the worker transmit them; production headers (HSTS, Secure
cookies, CSP, request id, no debug page on a 404), static files under hashed names; /healthz and
/readyz through the proxy; and the worker's JSON log line carrying the signing request's id.

Every step is named; the first failure ends the run with exit status 1 and the step's name,
after the tails of the services' logs. Everything started is stopped in all cases (SIGINT and
SIGTERM included). Environment: PROD_CHECK_POSTGRES (server URL, default
postgres://postgres@127.0.0.1:5432), PROD_CHECK_DB_PREFIX (default prodcheck_), PROD_CHECK_PORT_BASE
(default 18000: EHR +1, ID.me +2, proxy http +80, https +443, Redis +379), CHROMIUM_PATH,
PROD_CHECK_KEEP=1 keeps the temporary folder (logs) for a look afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PYTHON = sys.executable
CLIENT_NAME = "EHR Demo Practice"  # the name seed_idme_sandbox gives the EHR's client
EHR_USER, EHR_PASSWORD = "dr.smith", "Demo-EHR-2026"  # the README's demo login
IDME_EMAIL, IDME_PASSWORD = "alice.smith@example.test", "Demo-IDme-2026"
IDME_DEMO_TOTP = "DEMOALICE2SANDBOX3ONLY4ID5ME6XYZ"  # published demo key (README, docs/idme-sandbox.md)
NEW_DEVICE = "Prod check phone"
TIMEOUT_MS = 20_000
# Variables a caller's shell may carry that must not leak into a service's environment.
_SERVICE_PREFIXES = ("DJANGO_", "IDME_", "EHR_", "EPCS_", "DEA_", "FIELD_", "PHARMACY_", "AUDIT_", "LOG_")
_SERVICE_NAMES = ("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "PYTHONPATH")


class StepFailed(Exception):
    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"{step}: {type(cause).__name__}: {cause}")
        self.step = step


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Figures:
    timings: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


FIGURES = Figures()


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    say(f"== {name}")
    started = time.monotonic()
    try:
        yield
    except StepFailed:
        raise
    except BaseException as exc:
        raise StepFailed(name, exc) from exc
    FIGURES.timings[name] = round(time.monotonic() - started, 1)


def free_port(port: int) -> int:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"port {port} is in use (set PROD_CHECK_PORT_BASE)") from exc
    return port


def wait_for(what: str, condition: Any, timeout: float = 60.0, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # not yet
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout:.0f} s" + (f" (last error: {last})" if last else ""))


# --- the stack -----------------------------------------------------------------------------
class Stack:
    """The processes and databases this run started, stopped in reverse order."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True)
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.databases: list[str] = []
        self.postgres = os.environ.get("PROD_CHECK_POSTGRES", "postgres://postgres@127.0.0.1:5432").rstrip("/")

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def run(self, name: str, argv: list[str], env: dict[str, str], timeout: float = 180) -> str:
        with self.log(name).open("ab") as out:
            result = subprocess.run(  # noqa: S603 (our own commands)
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])} exited {result.returncode}:\n{self.tail(name)}")
        return self.log(name).read_text(errors="replace")

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 (our own commands)
            argv,
            cwd=ROOT,
            env=env,
            stdout=self.log(name).open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
        self.processes.append((name, process))
        return process

    def alive(self, name: str) -> None:
        for known, process in self.processes:
            if known == name and process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 25) -> str:
        path = self.log(name)
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"{self.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return f"{self.postgres}/{name}"

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                say(f"   {name} did not stop on SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()
        if self.databases:
            import psycopg

            with psycopg.connect(f"{self.postgres}/postgres", autocommit=True) as conn:
                for name in self.databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.databases.clear()


@dataclass(frozen=True)
class Ports:
    ehr: int
    idme: int
    http: int
    https: int
    redis: int

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(
            *(free_port(base + offset) for offset in (1, 2, 80, 443, 379)),
        )


def throwaway_keys() -> dict[str, str]:
    """Fresh secrets for this run only: they live in the processes' environment and nowhere else."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signing = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "ehr_secret": secrets.token_urlsafe(50),
        "idme_secret": secrets.token_urlsafe(50),
        "field_key": Fernet.generate_key().decode(),
        "idme_field_key": Fernet.generate_key().decode(),
        "client_secret": secrets.token_urlsafe(32),
        "dea_key": secrets.token_urlsafe(32),
        "operator_password": secrets.token_urlsafe(18),
        "signing_key": signing.decode(),
    }


def base_environment() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_SERVICE_PREFIXES) and key not in _SERVICE_NAMES
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def service_environments(
    work: Path, ports: Ports, keys: dict[str, str], ehr_db: str, idme_db: str
) -> tuple[dict[str, str], dict[str, str]]:
    idme_url = f"https://idme.localhost:{ports.https}/idme-sandbox"
    ca = work / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    ehr = base_environment() | {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": keys["ehr_secret"],
        "FIELD_ENCRYPTION_KEY": keys["field_key"],
        "DJANGO_ALLOWED_HOSTS": "ehr.localhost",
        "DATABASE_URL": ehr_db,
        "REDIS_URL": f"redis://127.0.0.1:{ports.redis}/0",
        "IDME_BASE_URL": idme_url,
        "IDME_CLIENT_ID": "ehr-demo-client",
        "IDME_CLIENT_SECRET": keys["client_secret"],
        "IDME_SANDBOX_ENABLED": "0",
        "DEA_REGISTRY_URL": f"{idme_url}/dea-registry",
        "DEA_REGISTRY_API_KEY": keys["dea_key"],
        "PHARMACY_GATEWAY_URL": f"{idme_url}/pharmacy-network/newrx",
        "EPCS_SIGNING_KEY": keys["signing_key"],
        "EHR_VAR_DIR": str(work / "ehr-var"),
        # Outbound https (ID.me, registry, pharmacy network: all the sandbox here) trusts the
        # proxy's local CA; idme.localhost resolves to the loopback (deploy/resolve_localhost).
        "REQUESTS_CA_BUNDLE": str(ca),
        "PYTHONPATH": str(DEPLOY / "resolve_localhost"),
        "EMAIL_URL": "consolemail://",
        # As docker-compose.yml: one dedicated sequencer seals the audit events.
        "AUDIT_SEQUENCER_FOLLOWS": "1",
    }
    idme = base_environment() | {
        "DJANGO_SETTINGS_MODULE": "idme_sandbox.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": keys["idme_secret"],
        "DJANGO_ALLOWED_HOSTS": "idme.localhost",
        "IDME_SANDBOX_DATABASE_URL": idme_db,
        "IDME_SANDBOX_REDIS_URL": f"redis://127.0.0.1:{ports.redis}/1",
        "IDME_SANDBOX_ENCRYPTION_KEY": keys["idme_field_key"],
        "IDME_SANDBOX_IN_PRODUCTION": "1",
        "IDME_SANDBOX_OPERATOR_PASSWORD": keys["operator_password"],
        "IDME_SANDBOX_EHR_CLIENT_ID": "ehr-demo-client",
        "IDME_SANDBOX_EHR_CLIENT_SECRET": keys["client_secret"],
        "IDME_SANDBOX_DEA_REGISTRY_API_KEY": keys["dea_key"],
        "IDME_SANDBOX_VAR_DIR": str(work / "idme-var"),
    }
    return ehr, idme


def wait_for_port(stack: Stack, name: str, port: int, timeout: float = 60) -> None:
    def listening() -> bool:
        stack.alive(name)
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_for(f"{name} listening on {port}", listening, timeout)


def https_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def https_get(ca: Path, host: str, port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET through the proxy with the TLS name `host`, trusting only the local CA."""
    import http.client

    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = http.client.HTTPSConnection(host, port, context=https_context(ca), timeout=10)
    conn.sock = https_context(ca).wrap_socket(raw, server_hostname=host)
    conn.request("GET", path, headers={"Host": f"{host}:{port}"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def spki_pin(pem_path: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): what Chromium's --ignore-certificate-errors-spki-list takes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(pem_path.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def leaf_pin(ca: Path, host: str, port: int) -> str:
    """The pin of the certificate the proxy serves for `host`, verified against the local CA first."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with https_context(ca).wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    spki = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


# --- the browser walk ----------------------------------------------------------------------
def code_from_qr(page: Any) -> tuple[str, str]:
    """Read the QR image like an authenticator app: (the secret, its current code)."""
    import pyotp
    import zxingcpp
    from PIL import Image

    src = page.get_by_role("img", name="QR code to scan with your code generator app").get_attribute("src")
    assert src and src.startswith("data:image/png;base64,"), "no QR image"
    barcodes = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
    assert len(barcodes) == 1, "exactly one QR code on the page"
    otp = pyotp.parse_uri(barcodes[0].text)
    assert isinstance(otp, pyotp.TOTP)
    return otp.secret, otp.now()


def device_row(page: Any, name: str) -> Any:
    table = page.get_by_role("table", name="ID.Me Device Information")
    return table.get_by_role("row").filter(has=page.get_by_role("cell", name=name))


def fresh_code(secret: str, used: set[str]) -> str:
    """The current code, waiting for the next time step if this one was already used (replay)."""
    import pyotp

    totp = pyotp.TOTP(secret)
    code = totp.now()
    while code in used:
        time.sleep(1)
        code = totp.now()
    used.add(code)
    return code


def browser_walk(ehr: str, idme: str, pins: list[str], stack: Stack) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise RuntimeError("no Chromium (install Debian's chromium or set CHROMIUM_PATH)")
    used_codes: set[str] = set()
    responses: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                # Trust exactly the local CA's and the proxy's keys (not "ignore every error").
                "--ignore-certificate-errors-spki-list=" + ",".join(pins),
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("response", lambda r: responses.__setitem__(f"{r.request.method} {r.url}", r))
        try:
            with step("browser: sign in to the EHR over https"):
                first = page.goto(f"{ehr}/accounts/login/")
                assert first is not None and first.status == 200, f"login page: {first and first.status}"
                assert page.url.startswith(f"{ehr}/"), page.url
                page.get_by_label("Username").fill(EHR_USER)
                page.get_by_label("Password").fill(EHR_PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_text("Account", exact=True)).to_be_visible()

            with step("browser: production headers, cookies and static files"):
                check_headers(page, context, ehr, idme)

            with step("browser: Update MFA Device -> new Code Generator at ID.me -> return -> primary"):
                page.goto(f"{ehr}/")
                page.get_by_text("Account", exact=True).click()
                page.get_by_role("link", name="Provider Settings").click()
                page.get_by_role("link", name="eRx Info").click()
                expect(page.get_by_role("heading", name="ID.Me Device Information")).to_be_visible()
                page.get_by_role("link", name="Update MFA Device").click()
                page.wait_for_url(f"{idme}/**")
                page.get_by_label("Email").fill(IDME_EMAIL)
                page.get_by_label("Password").fill(IDME_PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_role("heading", name="Complete your sign in")).to_be_visible()
                page.get_by_role("button", name="Select Code Generator").click()
                page.get_by_label("Enter the 6-digit code").fill(fresh_code(IDME_DEMO_TOTP, used_codes))
                page.get_by_role("button", name="Continue").click()
                expect(page.get_by_role("heading", name="Securing Your Account")).to_be_visible()
                page.get_by_role("link", name="Set Up Code Generator").click()
                expect(page.get_by_role("heading", name="Secure your account")).to_be_visible()
                new_secret, code = code_from_qr(page)
                used_codes.add(code)
                page.get_by_label("Enter the 6-digit code").fill(code)
                page.get_by_label("Name your device").fill(NEW_DEVICE)
                page.get_by_role("button", name="Continue").click()
                expect(page.get_by_text(f"Your code generator “{NEW_DEVICE}” was added.")).to_be_visible()
                page.get_by_role("link", name=f"Return to {CLIENT_NAME}").click()
                page.wait_for_url(f"{ehr}/**")
                expect(page.get_by_text(f"Added: {NEW_DEVICE}.")).to_be_visible()
                device_row(page, NEW_DEVICE).get_by_role("button", name="Select as the primary device").click()
                expect(page.get_by_text(f"{NEW_DEVICE} is now your primary device.")).to_be_visible()
                expect(device_row(page, NEW_DEVICE)).to_contain_text("Is Primary")

            with step("browser: sign two ready prescriptions with a code"):
                page.goto(f"{ehr}/eprescribe/")
                boxes = page.get_by_role("checkbox", name=re.compile(r"^Select .+ for Maria Garcia$"))
                expect(boxes).to_have_count(2)
                labels = [boxes.nth(i).get_attribute("aria-label") or "" for i in range(2)]
                for i in range(2):
                    boxes.nth(i).check()
                page.get_by_role("button", name="Sign selected").click()
                expect(page.get_by_role("heading", name="Review")).to_be_visible()
                page.get_by_label("Enter the 6-digit code").fill(fresh_code(new_secret, used_codes))
                responses.clear()
                page.get_by_role("button", name="Sign", exact=True).click()
                expect(page.get_by_text("2 prescriptions signed")).to_be_visible()
                signing = [r for key, r in responses.items() if key.startswith("POST ")]
                assert signing, "no POST seen for the signature"
                FIGURES.facts["signing_request_id"] = signing[0].headers.get("x-request-id")
                FIGURES.facts["signed"] = labels

            with step("browser: the worker transmits both (Transmitted in the list)"):
                started = time.monotonic()

                def transmitted() -> bool:
                    page.goto(f"{ehr}/eprescribe/")
                    rows = page.get_by_role("row").filter(has_text="Maria Garcia").filter(has_text="Transmitted")
                    return rows.count() >= 2

                wait_for("two prescriptions transmitted", transmitted, timeout=90, interval=1.0)
                FIGURES.facts["transmitted_after_s"] = round(time.monotonic() - started, 1)
        except StepFailed:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(stack.logs / "failure.png"), full_page=True)
            raise
        finally:
            context.close()
            browser.close()


def check_headers(page: Any, context: Any, ehr: str, idme: str) -> None:
    home = page.goto(f"{ehr}/")
    assert home is not None and home.status == 200, f"home: {home and home.status}"
    headers = home.headers
    hsts = headers.get("strict-transport-security", "")
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts, f"HSTS: {hsts!r}"
    csp = headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, f"CSP: {csp!r}"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("x-frame-options") == "DENY"
    assert re.fullmatch(r"[0-9a-f-]{32,36}", headers.get("x-request-id", "")), "no proxy request id"
    cookies = {c["name"]: c for c in context.cookies(ehr)}
    for name in ("ehr_sessionid", "ehr_csrftoken"):
        assert name in cookies, f"cookie {name} missing"
        assert cookies[name]["secure"], f"cookie {name} is not Secure"
    assert cookies["ehr_sessionid"]["httpOnly"], "session cookie not HttpOnly"

    # Static files: hashed names from the manifest, served with a long cache lifetime.
    stylesheets = page.locator("link[rel=stylesheet]")
    href = stylesheets.first.get_attribute("href") or ""
    assert re.search(r"\.[0-9a-f]{12}\.css$", href), f"stylesheet not under a hashed name: {href}"
    static = page.goto(f"{ehr}{href}")
    assert static is not None and static.status == 200, f"{href}: {static and static.status}"
    assert "max-age=315360000" in static.headers.get("cache-control", ""), static.headers.get("cache-control")
    FIGURES.facts["stylesheet"] = href

    # No debug page: a 404 is the plain production page, not Django's URL listing.
    missing = page.goto(f"{ehr}/no-such-page-{secrets.token_hex(4)}/")
    assert missing is not None and missing.status == 404, f"404 page: {missing and missing.status}"
    body = page.content()
    for leak in ("Django tried these URL patterns", "DEBUG = True", "Traceback", "URLconf"):
        assert leak not in body, f"debug page on a 404 ({leak!r})"

    # The http port redirects to https (the proxy), and the sandbox has its own host and headers.
    idme_page = page.goto(f"{idme}/oidc/.well-known/openid-configuration")
    assert idme_page is not None and idme_page.status == 200
    discovery = json.loads(page.locator("body").inner_text())
    assert discovery["issuer"] == f"{idme}", discovery["issuer"]
    assert "max-age=31536000" in idme_page.headers.get("strict-transport-security", "")


# --- main ----------------------------------------------------------------------------------
def main() -> int:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="prod-check-"))
    os.chmod(work, 0o700)
    stack = Stack(work)
    keep = os.environ.get("PROD_CHECK_KEEP") == "1"

    def stop_on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop_on_signal)
    prefix = os.environ.get("PROD_CHECK_DB_PREFIX", "prodcheck_")
    run_id = secrets.token_hex(3)
    failed: StepFailed | None = None
    try:
        with step("ports, throwaway keys and databases"):
            ports = Ports.from_base(int(os.environ.get("PROD_CHECK_PORT_BASE", "18000")))
            keys = throwaway_keys()
            ehr_db = stack.create_database(f"{prefix}{run_id}_ehr")
            idme_db = stack.create_database(f"{prefix}{run_id}_idme")
            ehr_env, idme_env = service_environments(work, ports, keys, ehr_db, idme_db)
        ehr_url = f"https://ehr.localhost:{ports.https}"
        idme_url = f"https://idme.localhost:{ports.https}/idme-sandbox"
        ca = work / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

        with step("redis"):
            redis = shutil.which("redis-server")
            if not redis:
                raise RuntimeError("redis-server is not installed")
            stack.start(
                "redis",
                [
                    redis,
                    "--port",
                    str(ports.redis),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(work),
                ],
                base_environment(),
            )
            wait_for_port(stack, "redis", ports.redis)

        with step("EHR: check --deploy, migrate, collectstatic, seed_demo"):
            manage = [PYTHON, "manage.py"]
            stack.run("ehr-setup", [*manage, "check", "--deploy", "--fail-level", "WARNING"], ehr_env)
            stack.run("ehr-setup", [*manage, "migrate", "--noinput"], ehr_env)
            stack.run("ehr-setup", [*manage, "collectstatic", "--noinput", "--verbosity", "0"], ehr_env)
            # The demo data: seed_demo grants EPCS without the two-person rule, which production
            # mode refuses by design, so only this one command runs in development mode against
            # the check's database (same keys); every service below runs with DJANGO_DEBUG=0.
            stack.run("ehr-setup", [*manage, "seed_demo"], ehr_env | {"DJANGO_DEBUG": "1"})

        with step("ID.me sandbox: migrate, collectstatic, seed, register the EHR's https URLs"):
            stack.run("idme-setup", [*manage, "check", "--deploy", "--fail-level", "WARNING"], idme_env)
            stack.run("idme-setup", [*manage, "migrate", "--noinput"], idme_env)
            stack.run("idme-setup", [*manage, "collectstatic", "--noinput", "--verbosity", "0"], idme_env)
            stack.run("idme-setup", [*manage, "seed_idme_sandbox"], idme_env)
            stack.run(
                "idme-setup",
                [
                    *manage,
                    "idme_register_client",
                    "--client-id",
                    "ehr-demo-client",
                    "--name",
                    CLIENT_NAME,
                    "--redirect-uri",
                    f"{ehr_url}/account/idme/callback/",
                    "--return-uri",
                    f"{ehr_url}/mfa/devices/returned/",
                ],
                idme_env,
            )

        with step("start gunicorn (EHR, ID.me), worker, beat, the audit sequencer and the proxy"):
            gunicorn = [PYTHON, "-m", "gunicorn", "--workers", "2", "--threads", "4", "--graceful-timeout", "5"]
            stack.start("ehr", [*gunicorn, "--bind", f"127.0.0.1:{ports.ehr}", "ehr.wsgi"], ehr_env)
            stack.start("idme", [*gunicorn, "--bind", f"127.0.0.1:{ports.idme}", "idme_sandbox.wsgi"], idme_env)
            stack.start(
                "worker",
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "ehr",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                    "--hostname",
                    f"prodcheck-{run_id}@%h",
                ],
                ehr_env,
            )
            stack.start(
                "beat",
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "ehr",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(work / "celerybeat-schedule"),
                ],
                ehr_env,
            )
            stack.start("sequencer", [*manage, "sequence_audit", "--follow"], ehr_env)
            caddy = shutil.which("caddy")
            if not caddy:
                raise RuntimeError("caddy is not installed (Debian: apt-get install caddy)")
            proxy_env = base_environment() | {
                "HOME": str(work),
                "XDG_DATA_HOME": str(work / "caddy-data"),
                "XDG_CONFIG_HOME": str(work / "caddy-config"),
                "PROXY_HTTP_PORT": str(ports.http),
                "PROXY_HTTPS_PORT": str(ports.https),
                "EHR_UPSTREAM": f"127.0.0.1:{ports.ehr}",
                "IDME_UPSTREAM": f"127.0.0.1:{ports.idme}",
            }
            stack.start(
                "proxy", [caddy, "run", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"], proxy_env
            )
            wait_for_port(stack, "ehr", ports.ehr)
            wait_for_port(stack, "idme", ports.idme)
            wait_for_port(stack, "proxy", ports.https)
            wait_for("the proxy's local CA", ca.exists, timeout=30)

            def worker_ready() -> bool:
                stack.alive("worker")
                return b" ready." in stack.log("worker").read_bytes()

            wait_for("the worker", worker_ready, timeout=90)
            stack.alive("beat")

        with step("/healthz and /readyz through the proxy (TLS verified against the local CA)"):

            def ready() -> dict[str, Any]:
                status, _headers, body = https_get(ca, "ehr.localhost", ports.https, "/readyz")
                data = json.loads(body)
                return data if status == 200 else {}

            status, _headers, body = https_get(ca, "ehr.localhost", ports.https, "/healthz")
            assert status == 200 and json.loads(body) == {"status": "ok"}, (status, body)
            readiness = wait_for("/readyz 200", ready, timeout=60, interval=1.0)
            assert readiness["checks"]["idme"]["state"] == "ok", readiness
            FIGURES.facts["readyz"] = {k: v["duration_ms"] for k, v in readiness["checks"].items()}
            status, _headers, _ = https_get(
                ca, "idme.localhost", ports.https, "/idme-sandbox/oidc/.well-known/openid-configuration"
            )
            assert status == 200, status
            # Plain http on the proxy's http port is answered with a redirect to https.
            import http.client

            plain = http.client.HTTPConnection("127.0.0.1", ports.http, timeout=5)
            plain.request("GET", "/", headers={"Host": "ehr.localhost"})
            redirect = plain.getresponse()
            location = redirect.getheader("Location") or ""
            plain.close()
            assert redirect.status in (301, 302, 307, 308), f"http answered {redirect.status}"
            assert location.startswith("https://ehr.localhost"), location

        with step("pin the local CA for Chromium"):
            pins = [spki_pin(ca)] + [leaf_pin(ca, host, ports.https) for host in ("ehr.localhost", "idme.localhost")]

        browser_walk(ehr_url, idme_url, pins, stack)

        with step("the worker logged JSON lines carrying the signing request's id"):
            request_id = FIGURES.facts.get("signing_request_id")
            assert request_id, "the signing response had no X-Request-Id"
            lines = [json.loads(line) for line in stack.log("worker").read_text().splitlines() if line.startswith("{")]
            carried = [line for line in lines if line.get("request_id") == request_id and line.get("task")]
            assert carried, f"no worker line with request_id {request_id}"
            FIGURES.facts["worker_tasks_for_signing_request"] = sorted({line["task"] for line in carried})
            for name in ("ehr", "worker"):
                text = stack.log(name).read_text()
                for secret in (keys["ehr_secret"], keys["client_secret"], keys["dea_key"], EHR_PASSWORD, IDME_PASSWORD):
                    assert secret not in text, f"a secret appears in the {name} log"
            for name in ("ehr", "worker", "beat", "sequencer", "idme", "proxy", "redis"):
                stack.alive(name)

        with step("the dedicated sequencer keeps up: no audit event of the walk waits over 5 s for its place"):
            stack.run("ehr-check", [PYTHON, "manage.py", "sequence_audit", "--check", "5"], ehr_env)
    except StepFailed as exc:
        failed = exc
    except KeyboardInterrupt as exc:
        failed = StepFailed("interrupted", exc)
    finally:
        say("== stop everything this run started")
        for name, _process in stack.processes:
            if failed is not None:
                say(f"--- {name} log (last lines) ---\n{stack.tail(name)}")
        try:
            stack.stop()
        finally:
            if keep:
                say(f"   logs kept in {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    total = round(time.monotonic() - started, 1)
    if failed is not None:
        say(f"prod-check FAILED at step: {failed.step}\n  {failed}")
        return 1
    say(json.dumps({"total_s": total, "steps_s": FIGURES.timings, **FIGURES.facts}, indent=2))
    say(f"prod-check passed in {total} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
