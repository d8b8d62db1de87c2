"""Names and references as each rail's character set allows: transliterated (ü -> u), unsupported characters
replaced, trimmed to the field's length. The bank's systems refuse anything else."""

from __future__ import annotations

import re
from functools import lru_cache

from text_unidecode import unidecode

# The EPC's SEPA character set (Latin, as every SEPA bank must accept): no & < > " so nothing needs escaping in XML.
_NOT_SEPA = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")
# NACHA alphameric fields: upper case letters, digits and common punctuation, printable ASCII only.
_NOT_ACH = re.compile(r"[^A-Z0-9 .,/\-&'()#*]")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=65_536)  # names repeat (remittance lines above all): transliterate each once
def sepa_text(text: str, limit: int) -> str:
    ascii_text = _SPACES.sub(" ", unidecode(text)).strip()
    return _NOT_SEPA.sub(".", ascii_text)[:limit].strip()


@lru_cache(maxsize=65_536)
def ach_text(text: str, limit: int) -> str:
    ascii_text = _SPACES.sub(" ", unidecode(text)).strip().upper()
    return _NOT_ACH.sub(" ", ascii_text)[:limit]
