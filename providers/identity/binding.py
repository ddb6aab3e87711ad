"""Identity binding (DEA-20): the identity proofed at ID.me must be the provider's own.

The rule, in one place (docs/idme-oidc.md, "Binding the identity to the provider"):

- ID.me's `fname` and `lname` claims must equal the provider's legal first and last name
  (`User.first_name` / `User.last_name`, kept by the practice admin; the prescriber cannot edit
  them) after `normalise_name`.
- ID.me's `birth_date` claim, when the token carries one and the provider has a date of birth
  on record (`Provider.date_of_birth`), must be the same date.
- Any difference is a mismatch: the identity is not confirmed and the ID.me result is kept as
  a pending `IdentityMismatch` for an EPCS access manager to review (providers.identity.reviews).

No fuzzy matching, no nicknames, no initials: a difference goes to a person.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from idme_client import IdentityClaims
from providers import erx_cache
from providers.models import IdentityMismatch, IdentityMismatchStatus, Provider


class Difference(StrEnum):
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    BIRTH_DATE = "birth_date"


# Letters that are not "a letter plus an accent" in Unicode, so NFKD leaves them alone.
_LETTER_FOLDS = str.maketrans(
    {"\u00f8": "o", "\u0142": "l", "\u0111": "d", "\u0127": "h", "\u0131": "i", "\u00e6": "ae", "\u0153": "oe"}
)  # o with stroke, l with stroke, d with stroke, h with stroke, dotless i, ae, oe
# Typographic apostrophes (right and left single quotation marks, modifier letter apostrophe,
# grave and acute accents) become the plain one.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u0060": "'", "\u00b4": "'"})
_SPACES = re.compile(r"\s+")


def normalise_name(value: str) -> str:
    """The form two names are compared in.

    NFKC (full-width and compatibility letters become ordinary ones), then accents are
    removed (NFKD without combining marks), case folded (ß = ss), a few letters without a
    decomposition folded (o, l, d, h with stroke, dotless i, ae, oe ligatures), typographic
    apostrophes made plain, every hyphen or dash (Unicode "Pd") made a space, and runs of
    whitespace made one space, trimmed at both ends. So "  ÉLODIE " = "Elodie",
    "Mary-Jane" = "mary jane", full-width "Smith" = "Smith"; but "MaryJane" differs from
    "Mary Jane". docs/idme-oidc.md lists the same rules.
    """
    text = unicodedata.normalize("NFKC", value)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.casefold().translate(_LETTER_FOLDS).translate(_APOSTROPHES)
    text = "".join(" " if unicodedata.category(c) == "Pd" else c for c in text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class BindingCheck:
    """What ID.me said, what the EHR has, and which parts differ."""

    idme_first_name: str
    idme_last_name: str
    idme_birth_date: dt.date | None
    ehr_first_name: str
    ehr_last_name: str
    ehr_birth_date: dt.date | None
    differences: tuple[Difference, ...]

    @property
    def matches(self) -> bool:
        return not self.differences

    @property
    def birth_date_compared(self) -> bool:
        return self.idme_birth_date is not None and self.ehr_birth_date is not None

    @property
    def names_differ(self) -> bool:
        return Difference.FIRST_NAME in self.differences or Difference.LAST_NAME in self.differences

    @property
    def idme_name(self) -> str:
        return _full_name(self.idme_first_name, self.idme_last_name)

    @property
    def ehr_name(self) -> str:
        return _full_name(self.ehr_first_name, self.ehr_last_name)


def _full_name(first: str, last: str) -> str:
    return " ".join(part.strip() for part in (first, last) if part.strip())


def ehr_identity(provider: Provider) -> tuple[str, str, dt.date | None]:
    """The provider's legal first name, last name and date of birth on record."""
    return provider.user.first_name, provider.user.last_name, provider.date_of_birth


def check_binding(provider: Provider, claims: IdentityClaims) -> BindingCheck:
    first, last, born = ehr_identity(provider)
    differences: list[Difference] = []
    # An empty name on either side never matches: there is nothing to bind to.
    if not normalise_name(first) or normalise_name(claims.fname) != normalise_name(first):
        differences.append(Difference.FIRST_NAME)
    if not normalise_name(last) or normalise_name(claims.lname) != normalise_name(last):
        differences.append(Difference.LAST_NAME)
    if claims.birth_date is not None and born is not None and claims.birth_date != born:
        differences.append(Difference.BIRTH_DATE)
    return BindingCheck(
        idme_first_name=claims.fname,
        idme_last_name=claims.lname,
        idme_birth_date=claims.birth_date,
        ehr_first_name=first,
        ehr_last_name=last,
        ehr_birth_date=born,
        differences=tuple(differences),
    )


def mismatch_message(check: BindingCheck) -> str:
    """What the prescriber reads on eRx Info after a mismatch."""
    parts = []
    if check.names_differ:
        parts.append(
            f"The name at ID.me ({check.idme_name or 'no name'}) does not match your EHR profile "
            f"({check.ehr_name or 'no name on record'})."
        )
    if Difference.BIRTH_DATE in check.differences:
        parts.append("The date of birth at ID.me does not match the one on your EHR profile.")
    parts.append(
        "Your identity was not confirmed. If the difference is legitimate (for example a maiden name), "
        "an EPCS access manager can review and confirm it; otherwise ask your practice admin to correct "
        "your EHR profile, or verify with your own ID.me account."
    )
    return " ".join(parts)


def audit_details(check: BindingCheck) -> dict[str, object]:
    """Both names and what differed; birth dates themselves stay out of the audit trail."""
    return {
        "differences": [str(d) for d in check.differences],
        "idme_name": check.idme_name,
        "ehr_name": check.ehr_name,
        "birth_date_compared": check.birth_date_compared,
    }


# --- the pending mismatch --------------------------------------------------------------------
def record_mismatch(locked: Provider, claims: IdentityClaims, check: BindingCheck) -> IdentityMismatch:
    """Keep the ID.me result for review; it replaces the provider's earlier pending one.
    Call inside the transaction that holds the provider's row lock."""
    supersede_pending(locked)  # bumps the eRx Info identity section
    return IdentityMismatch.objects.create(
        provider=locked,
        differences=[str(d) for d in check.differences],
        idme_uuid=claims.uuid,
        idme_fname=claims.fname[:150],
        idme_lname=claims.lname[:150],
        idme_email=claims.email[:254],
        idme_birth_date=claims.birth_date,
        idme_ial=claims.ial,
        idme_aal=claims.aal,
        ehr_first_name=check.ehr_first_name,
        ehr_last_name=check.ehr_last_name,
        ehr_birth_date=check.ehr_birth_date,
    )


def supersede_pending(provider: Provider) -> int:
    """A newer ID.me answer (match or mismatch) ends the review of the older one."""
    erx_cache.bump_section(erx_cache.IDENTITY, provider.pk)
    return IdentityMismatch.objects.filter(provider=provider, status=IdentityMismatchStatus.PENDING).update(
        status=IdentityMismatchStatus.SUPERSEDED
    )


def pending_mismatch_for(provider: Provider) -> IdentityMismatch | None:
    return IdentityMismatch.objects.filter(provider=provider, status=IdentityMismatchStatus.PENDING).first()
