"""Keyed replacements: UIDs, patient identifiers and date offsets (DESIGN.md: HMAC-SHA256
under a site secret, never a plain hash, which anyone could recompute from a guessed value).

- UIDs become ``2.25.<integer>`` (PS3.5 B.2: a UUID-derived UID under the ``2.25`` root), the
  integer being the first 128 bits of HMAC-SHA256(secret, original), so at most 39 digits and
  64 characters in all. The same original and secret give the same UID in every file and
  every run, so references (Referenced SOP Instance UID, Frame of Reference, Series, Study)
  still resolve after de-identification (PS3.15 E.1.1).
- Patient ID and Patient's Name become keyed pseudonyms of the original Patient ID.
- Dates move by a keyed per-patient whole-day offset, so intervals between any two dates and
  times of one patient survive (PS3.15 E.3.6, Retain Longitudinal Temporal Information with
  Modified Dates).

The secret lives in the device key store (``keystore.secret``) and never appears in outputs,
reports or logs.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from device_ai.keystore import secret as keystore_secret

SECRET_NAME = "deidentification-key"
UID_ROOT = "2.25."
# Offsets lie between 1 and 10 years back, never zero (a zero shift would keep the dates).
MIN_OFFSET_DAYS = 365
MAX_OFFSET_DAYS = 3650


def site_secret() -> bytes:
    """The de-identification secret of this site, created on first use."""
    return keystore_secret(SECRET_NAME)


@dataclass
class KeyedReplacer:
    """All keyed replacements of one run; remembers what it made for the crosswalk."""

    secret: bytes
    uids: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)

    def _mac(self, kind: str, value: str) -> bytes:
        return hmac.new(self.secret, f"{kind}\x1f{value}".encode("utf-8"), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """``2.25.`` + the 128-bit keyed digest of ``original`` as a decimal integer."""
        original = original.strip("\0 ")
        if original not in self.uids:
            number = int.from_bytes(self._mac("uid", original)[:16], "big")
            self.uids[original] = f"{UID_ROOT}{number}"
        return self.uids[original]

    def patient_id(self, original: str) -> str:
        """``DAI-`` + 16 upper-case hex digits (fits LO, 64 characters)."""
        if original not in self.patients:
            self.patients[original] = "DAI-" + self._mac("patient", original)[:8].hex().upper()
        return self.patients[original]

    def patient_name(self, original_id: str) -> str:
        """A PN made of the patient pseudonym, e.g. ``PSEUDONYM^DAI-0A1B...``."""
        return f"PSEUDONYM^{self.patient_id(original_id)}"

    def day_offset(self, original_patient_id: str) -> int:
        """Days to subtract from every date of this patient (keyed, 365 to 3650)."""
        if original_patient_id not in self.offsets:
            raw = int.from_bytes(self._mac("dates", original_patient_id)[:8], "big")
            self.offsets[original_patient_id] = MIN_OFFSET_DAYS + raw % (MAX_OFFSET_DAYS - MIN_OFFSET_DAYS + 1)
        return self.offsets[original_patient_id]
