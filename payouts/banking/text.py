"""Names and references as each rail's character set allows: transliterated (ü -> u), unsupported characters
replaced, trimmed to the field's length. The bank's systems refuse anything else.

Transliteration runs a million times for a large batch, so it is str.translate over a table that learns each
character once (text_unidecode's table for that character): C speed after the first sight of a character."""

from __future__ import annotations

import re
from functools import lru_cache

from text_unidecode import unidecode


class _Transliteration(dict[int, str]):
    def __missing__(self, code: int) -> str:
        self[code] = replacement = unidecode(chr(code))
        return replacement


_ASCII = _Transliteration()
# The EPC's SEPA character set (Latin, as every SEPA bank must accept): no & < > " so nothing needs escaping in XML.
_NOT_SEPA = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")
# NACHA alphameric fields: upper case letters, digits and common punctuation, printable ASCII only.
_NOT_ACH = re.compile(r"[^A-Z0-9 .,/\-&'()#*]")
_SPACES = re.compile(r"\s+")


def ascii_text(text: str) -> str:
    return " ".join((text if text.isascii() else text.translate(_ASCII)).split())


def sepa_text(text: str, limit: int) -> str:
    return _NOT_SEPA.sub(".", ascii_text(text))[:limit].strip()


def ach_text(text: str, limit: int) -> str:
    return _NOT_ACH.sub(" ", ascii_text(text).upper())[:limit]


@lru_cache(maxsize=64)  # a batch has one remittance line or a few: transliterate each once
def sepa_remittance(text: str) -> str:
    return sepa_text(text, 140)


@lru_cache(maxsize=64)
def ach_remittance(text: str, limit: int) -> str:
    return ach_text(text, limit)
