"""What the EHR refuses in production mode (ASVS-08); the helpers are `common.envconfig`."""

from __future__ import annotations

from urllib.parse import urlsplit

from common.envconfig import (
    DEMO_DEA_REGISTRY_API_KEY,
    DEMO_IDME_CLIENT_SECRET,
    DEMO_SANDBOX_OPERATOR_PASSWORD,
    allowed_hosts_problems,
    demo_value_problems,
    fernet_problems,
    given,
    secret_key_problems,
)


def production_problems(
    *,
    secret_key: str,
    fernet_keys: dict[str, list[str]],
    allowed_hosts: list[str],
    idme_base_url: str,
    idme_client_secrets: dict[str, str],
    sandbox_enabled: bool,
    sandbox_in_production: bool,
    sandbox_operator_password: str,
    dea_registry_api_key: str,
) -> list[str]:
    """One line per unsafe production setting. Variables left unset are not judged here:
    `missing_variables` names them (a default is a development value by definition)."""
    problems: list[str] = []
    if given("DJANGO_SECRET_KEY"):
        problems += secret_key_problems(secret_key)
    for name, keys in fernet_keys.items():
        if given(name):
            problems += fernet_problems(name, keys)
    problems += allowed_hosts_problems(allowed_hosts)
    for name, value in idme_client_secrets.items():
        if given(name) and value == DEMO_IDME_CLIENT_SECRET:
            problems.append(f"{name} is the published demo client secret; use the one ID.me issued")
    if given("DEA_REGISTRY_API_KEY") and dea_registry_api_key == DEMO_DEA_REGISTRY_API_KEY:
        problems.append("DEA_REGISTRY_API_KEY is the published demo key; use your registry subscription's key")
    if given("IDME_BASE_URL") and urlsplit(idme_base_url).scheme != "https" and not sandbox_in_production:
        problems.append("IDME_BASE_URL must be an https:// URL in production mode")
    if sandbox_enabled and not sandbox_in_production:
        problems.append(
            "IDME_SANDBOX_ENABLED=1: the ID.me sandbox is not ID.me; "
            "set IDME_SANDBOX_IN_PRODUCTION=1 only on a demonstration host"
        )
    if sandbox_enabled and sandbox_in_production:
        problems += demo_value_problems(
            "IDME_SANDBOX_OPERATOR_PASSWORD", sandbox_operator_password, DEMO_SANDBOX_OPERATOR_PASSWORD
        )
    return problems
