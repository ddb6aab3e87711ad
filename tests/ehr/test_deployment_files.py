"""The deployment descriptions stay complete: compose services, health checks, the TLS proxy
and its host names, Procfile. Validated statically (no image is pulled or started here;
`make prod-check` starts the same proxy configuration for real)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ehr.health import HEALTH_PATH, READY_PATH

ROOT = Path(__file__).resolve().parents[2]


def test_compose_describes_the_production_like_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"proxy", "postgres", "redis", "web", "worker", "beat", "sequencer", "idme"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    for name in ("web", "worker", "beat", "sequencer"):
        env = services[name]["environment"]
        # One dedicated sequencer; the writers leave the sealing to it (docs/scaling.md).
        assert env["AUDIT_SEQUENCER_FOLLOWS"] == "1"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
        # The browser's URL of "ID.me", reached by the containers through the same proxy.
        assert env["IDME_BASE_URL"] == "https://idme.localhost/idme-sandbox"
        assert env["DEA_REGISTRY_URL"].startswith("https://idme.localhost/")
        assert env["PHARMACY_GATEWAY_URL"].startswith("https://idme.localhost/")
        assert env["DJANGO_ALLOWED_HOSTS"] == "ehr.localhost"
        assert env["DJANGO_DEBUG"] == "0" and "DJANGO_SECURE_SSL_REDIRECT" not in env
        assert env["REQUESTS_CA_BUNDLE"] == "/ca/root.crt"
        assert "caddy_ca:/ca:ro" in services[name]["volumes"]
        # Secrets come from the environment, never a published default; one signing key for all.
        for secret in ("DJANGO_SECRET_KEY", "IDME_CLIENT_SECRET", "DEA_REGISTRY_API_KEY", "EPCS_SIGNING_KEY"):
            assert env[secret].startswith(f"${{{secret}:?"), secret


def test_procfile_starts_web_worker_and_beat() -> None:
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line and not line.startswith("#")
    )
    assert set(processes) == {"web", "worker", "beat"}
    assert "celery -A ehr worker" in processes["worker"]
    assert "celery -A ehr beat" in processes["beat"]


def test_compose_puts_the_tls_proxy_in_front_under_the_localhost_names() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["environment"] == {"EHR_UPSTREAM": "web:8000", "IDME_UPSTREAM": "idme:8001"}
    assert set(proxy["networks"]["default"]["aliases"]) == {"ehr.localhost", "idme.localhost"}
    assert set(proxy["ports"]) == {"80:80", "443:443"}
    # Only the proxy is published: the services answer on the compose network alone.
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    # The CA's private key stays in the proxy's volume; the others get the public root only.
    assert "caddy_data:/data" in proxy["volumes"] and "caddy_ca:/ca" in proxy["volumes"]
    assert all("caddy_data" not in str(s.get("volumes", "")) for n, s in services.items() if n != "proxy")
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["proxy"] == {"condition": "service_healthy"}
    idme = services["idme"]
    assert idme["environment"]["DJANGO_ALLOWED_HOSTS"] == "idme.localhost"
    assert "--redirect-uri https://ehr.localhost/account/idme/callback/" in idme["command"]
    assert "--return-uri https://ehr.localhost/mfa/devices/returned/" in idme["command"]


def test_compose_health_checks_use_the_health_endpoints() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert f"http://127.0.0.1:8000{READY_PATH}" in " ".join(services["web"]["healthcheck"]["test"])
    assert HEALTH_PATH == "/healthz"


def test_the_caddyfile_serves_both_names_with_its_local_ca() -> None:
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    for site, upstream in (("ehr.localhost", "EHR_UPSTREAM"), ("idme.localhost", "IDME_UPSTREAM")):
        block = caddyfile.split(f"\n{site} {{", 1)[1].split("\n}", 1)[0]
        assert "tls internal" in block
        assert f"reverse_proxy {{${upstream}:" in block
    assert "skip_install_trust" in caddyfile  # never touches the machine's trust store
    assert "header_up X-Request-Id" in caddyfile


def test_caddy_accepts_the_caddyfile() -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian's caddy package; .ci/run installs it)")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(ROOT / "var")}
    result = subprocess.run(
        [caddy, "adapt", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    hosts = {
        host
        for server in config["apps"]["http"]["servers"].values()
        for route in server["routes"]
        for match in route.get("match", [])
        for host in match.get("host", [])
    }
    assert hosts == {"ehr.localhost", "idme.localhost"}
