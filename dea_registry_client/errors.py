"""Errors from asking the DEA registry. Each carries a `code`; callers branch on the class or code."""

from __future__ import annotations


class RegistryError(Exception):
    """Base class: a registry call did not give an answer."""

    code = "registry_error"


class RegistryUnavailable(RegistryError):
    """The registry could not be reached or answered with a server error, or with a body that
    does not match the contract (timeout, connection refused, 5xx, not JSON)."""

    code = "registry_unavailable"


class RegistryNotConfigured(RegistryUnavailable):
    """DEA_REGISTRY_URL or DEA_REGISTRY_API_KEY is empty."""

    code = "registry_not_configured"


class RegistryRejected(RegistryError):
    """The registry understood the request and refused it (4xx); `code` is the registry's."""

    def __init__(self, message: str, code: str = "rejected", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RegistryNotFound(RegistryRejected):
    """No registration with that DEA number is on record (404)."""
