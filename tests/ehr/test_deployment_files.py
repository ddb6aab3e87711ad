"""The deployment descriptions stay complete: compose services, health checks, Procfile."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_describes_the_production_like_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat", "idme"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
        assert env["IDME_BASE_URL"].startswith("http://idme:")
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
