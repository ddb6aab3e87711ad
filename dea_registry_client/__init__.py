"""Typed client of the DEA registration registry (docs/dea-registry.md).

The EHR asks the registry about a DEA number before an access manager's verification counts.
Configured by the settings DEA_REGISTRY_URL, DEA_REGISTRY_API_KEY and
DEA_REGISTRY_TIMEOUT_SECONDS; imports no EHR app.
"""

from dea_registry_client.client import RegistryClient, registry_client
from dea_registry_client.errors import (
    RegistryError,
    RegistryNotConfigured,
    RegistryNotFound,
    RegistryRejected,
    RegistryUnavailable,
)
from dea_registry_client.types import BusinessActivity, RegistryRecord, RegistryStatus, Schedule

__all__ = [
    "BusinessActivity",
    "RegistryClient",
    "RegistryError",
    "RegistryNotConfigured",
    "RegistryNotFound",
    "RegistryRecord",
    "RegistryRejected",
    "RegistryStatus",
    "RegistryUnavailable",
    "Schedule",
    "registry_client",
]
