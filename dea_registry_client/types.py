"""Typed answers of the DEA registry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RegistryStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class BusinessActivity(StrEnum):
    PRACTITIONER = "practitioner"
    MID_LEVEL_PRACTITIONER = "mid_level_practitioner"
    PHARMACY = "pharmacy"
    HOSPITAL = "hospital"
    OTHER = "other"

    @property
    def may_prescribe(self) -> bool:
        return self in (BusinessActivity.PRACTITIONER, BusinessActivity.MID_LEVEL_PRACTITIONER)


class Schedule(StrEnum):
    """Controlled-substance schedules a registration covers (N: non-narcotic)."""

    II = "2"
    IIN = "2N"
    III = "3"
    IIIN = "3N"
    IV = "4"
    V = "5"


@dataclass(frozen=True)
class RegistryRecord:
    """The registry's answer for one DEA number."""

    dea_number: str
    registrant_name: str
    registrant_last_name: str
    registrant_first_name: str
    business_activity: BusinessActivity
    schedules: frozenset[Schedule]
    state: str
    expires_on: dt.date
    status: RegistryStatus
    checked_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        """The answer as the registry sent it (kept as the verification's snapshot)."""
        return {
            "dea_number": self.dea_number,
            "registrant_name": self.registrant_name,
            "registrant_last_name": self.registrant_last_name,
            "registrant_first_name": self.registrant_first_name,
            "business_activity": str(self.business_activity),
            "schedules": [str(s) for s in Schedule if s in self.schedules],
            "state": self.state,
            "expires_on": self.expires_on.isoformat(),
            "status": str(self.status),
            "checked_at": self.checked_at.isoformat(),
        }
