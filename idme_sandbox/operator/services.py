"""Operator sign-in (with the shared attempt limiter) and the operator the demo seeds."""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.db import transaction

from common.throttle import AttemptLimiter
from idme_sandbox.models import Operator

logger = logging.getLogger("idme_sandbox.operator")

# Documented in docs/idme-sandbox.md: 10 failures for one username, or 50 from one address,
# in 15 minutes lock sign-in for the rest of the window.
OPERATOR_SIGN_IN_LIMITER = AttemptLimiter("idme_operator_sign_in", limit=10, window_seconds=15 * 60)
OPERATOR_SIGN_IN_IP_LIMITER = AttemptLimiter("idme_operator_sign_in_ip", limit=50, window_seconds=15 * 60)


class OperatorSignInLocked(Exception):
    """Too many failed operator sign-ins for this username or from this address."""


def normalize_username(username: str) -> str:
    return username.strip().lower()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def check_operator_sign_in(username: str, password: str, ip: str) -> Operator | None:
    """The operator with this username and password, or None; raises OperatorSignInLocked."""
    username = normalize_username(username)
    if OPERATOR_SIGN_IN_LIMITER.is_locked(username) or OPERATOR_SIGN_IN_IP_LIMITER.is_locked(ip):
        logger.warning("operator sign-in locked username=%s", _digest(username))
        raise OperatorSignInLocked
    operator = Operator.objects.filter(username=username).first()
    if operator is None:
        Operator().set_password(password)  # same hashing time whether or not the username exists
    if operator is None or not operator.check_password(password):
        OPERATOR_SIGN_IN_LIMITER.failure(username)
        OPERATOR_SIGN_IN_IP_LIMITER.failure(ip)
        logger.info("operator sign-in refused username=%s", _digest(username))
        return None
    OPERATOR_SIGN_IN_LIMITER.reset(username)
    logger.info("operator sign-in ok operator=%s", operator.pk)
    return operator


@transaction.atomic
def seed_operator() -> Operator:
    """Create or refresh the operator named in the settings, with the configured password
    (IDME_SANDBOX_OPERATOR_USERNAME / IDME_SANDBOX_OPERATOR_PASSWORD). Idempotent."""
    username = normalize_username(str(settings.IDME_SANDBOX_OPERATOR_USERNAME))
    operator = Operator.objects.select_for_update().filter(username=username).first() or Operator(username=username)
    operator.set_password(str(settings.IDME_SANDBOX_OPERATOR_PASSWORD))
    operator.save()
    return operator
