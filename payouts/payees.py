"""Bank details of a payee: strict validation, normalisation, masking, and whether a payee can be paid now.

Validation (``payee_details_clean``) takes what a person typed and returns normalised details (spaces stripped,
upper case, ``last4`` set) or raises ``PayeeInvalid`` naming each field and its reason:

- SEPA: EUR, an IBAN (schwifty: characters, length per country, checksum) of a SEPA-zone country, an optional BIC
  (schwifty: format and country) whose country agrees with the IBAN's; with none typed, the BIC schwifty's bank
  registry gives for the IBAN's bank code is filled in (it may stay empty: SEPA pays on the IBAN alone).
- ACH: USD, a routing number passing the ABA check digit (python-stdnum ``stdnum.us.rtn``), an account number of
  4-17 digits.
- OTHER: any currency in circulation (core.money.CURRENCIES), an account number of 4-34 letters or digits, an
  optional BIC.
- Every rail: the holder's name, at most 140 characters, no control or invisible formatting characters. A field
  the rail does not use must be empty (a typed IBAN on an ACH payee is a mistake, not something to drop silently).

Whether a payee can be paid (the batches side asks before paying):

- ``payee_payable_refusal(payee, now)`` is ``None`` when the payee can be paid at ``now``, else the reason in
  words: no bank details, blocked after a returned payment (``blocked_reason``), or held after a change of bank
  details (``hold_until`` in the future; confirming the change by a second person clears ``hold_until``).
- The same condition for set-based work: ``payee_payable_q(now, prefix="payee__")`` for the ORM (e.g. on
  ``Partner``), and ``PAYEE_PAYABLE_SQL`` for raw SQL: format it with the payee table's alias and pass ``now`` as
  its one parameter::

      cursor.execute("SELECT p.partner_id FROM payouts_payee p WHERE " + PAYEE_PAYABLE_SQL.format(payee="p"), [now])

  Invariant the condition relies on: ``hold_until`` is NULL once a change is confirmed (payouts.services.payees).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Q
from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.us import rtn

from core.money import CURRENCIES
from payouts.exceptions import PayoutsError
from payouts.models import Payee

Rail = Payee.Rail

HOLDER_MAX = 140
RAW_MAX = 80  # longer than any IBAN or account number with spaces: refused before any parsing

FIELD_LABELS = {
    "rail": "Rail", "currency": "Currency", "account_holder": "Account holder", "iban": "IBAN", "bic": "BIC",
    "routing_number": "Routing number", "account_number": "Account number",
}
DETAIL_FIELDS = ("account_holder", "iban", "routing_number", "account_number")  # readable with view_payee_details
ACCOUNT_FIELDS = ("rail", "account_holder", "iban", "routing_number", "account_number")  # a change here holds

REQUIRED = "{label}: required for {rail}."
NOT_USED = "{label}: not used for {rail}; leave it empty or choose the rail it belongs to."
TOO_LONG = "{label}: {length} characters is too long (at most {limit})."
CONTROL_CHARACTER = "{label}: holds an invisible or control character ({name}); type the name as plain text."
UNKNOWN_RAIL = "Rail: “{value}” is not one of {choices}."
RAIL_CURRENCY = "Currency: {rail} pays in {expected} only, not {currency}."
UNKNOWN_CURRENCY = "Currency: “{currency}” is not a currency in circulation; use a three-letter code such as USD."
IBAN_CHECKSUM = "IBAN {iban}: checksum does not match — check the digits."
IBAN_LENGTH = "IBAN {iban}: {length} characters, but an IBAN from {country} has {expected}."
IBAN_COUNTRY = "IBAN {iban}: “{country}” is not a country that issues IBANs."
IBAN_STRUCTURE = "IBAN {iban}: the characters after the country do not fit the bank account format of {country}."
IBAN_NOT_SEPA = "IBAN {iban}: {country} is not in the SEPA zone; use the Other rail for this account."
BIC_FORMAT = "BIC {bic}: a BIC is 8 or 11 letters and digits (bank, country, location, optional branch)."
BIC_COUNTRY = "BIC {bic}: “{country}” is not a known country."
BIC_OTHER_COUNTRY = "BIC {bic}: the bank is in {bic_country} but the IBAN is from {iban_country}; check both."
ROUTING_FORMAT = "Routing number {value}: a US routing number is 9 digits."
ROUTING_CHECK_DIGIT = "Routing number {value}: the ABA check digit does not match — check the digits."
ACH_ACCOUNT = "Account number: a US account number is 4 to 17 digits (got {length} characters{what})."
OTHER_ACCOUNT = "Account number: 4 to 34 letters or digits (got {length} characters{what})."

NO_DETAILS = "no bank details: add the partner's payee details first"
BLOCKED = "blocked: {reason}; fix the bank details to lift it"
HELD = ("held until {until:%Y-%m-%d %H:%M} UTC: the bank details changed on {changed:%Y-%m-%d}; a second person "
        "can confirm the change to lift the hold")

PAYEE_PAYABLE_SQL = "({payee}.blocked_reason = '' AND ({payee}.hold_until IS NULL OR {payee}.hold_until <= %s))"

_SEPARATORS = re.compile(r"[\s\-./]")


class PayeeInvalid(PayoutsError):
    """Details a person typed that cannot be saved; ``errors`` maps each field to its sentence."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(" ".join(errors.values()))


class PayeeRefused(PayoutsError):
    """A confirmation or block the state of the payee does not allow."""


@dataclass(frozen=True)
class PayeeDetails:
    rail: str
    currency: str
    account_holder: str
    iban: str | None
    bic: str
    routing_number: str | None
    account_number: str | None
    last4: str

    def as_fields(self) -> dict[str, object]:
        return {"rail": self.rail, "currency": self.currency, "account_holder": self.account_holder,
                "iban": self.iban, "bic": self.bic, "routing_number": self.routing_number,
                "account_number": self.account_number, "last4": self.last4}


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _compact(value: object) -> str:
    """Upper case without the spaces, hyphens, dots and slashes people type between groups of digits."""
    return _SEPARATORS.sub("", _text(value)).upper()


def _grouped(value: str) -> str:
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def _holder(raw: object, errors: dict[str, str]) -> str:
    label = FIELD_LABELS["account_holder"]
    for character in _text(raw).strip():
        if unicodedata.category(character) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp"):
            errors["account_holder"] = CONTROL_CHARACTER.format(
                label=label, name=unicodedata.name(character, f"U+{ord(character):04X}"))
            return ""
    name = " ".join(_text(raw).split())  # runs of spaces (no-break ones too) become one
    if not name:
        errors["account_holder"] = REQUIRED.format(label=label, rail="every rail")
    elif len(name) > HOLDER_MAX:
        errors["account_holder"] = TOO_LONG.format(label=label, length=len(name), limit=HOLDER_MAX)
    return name


def _iban(value: str, errors: dict[str, str]) -> IBAN | None:
    shown = _grouped(value)
    country = value[:2]
    try:
        iban = IBAN(value)
    except schwifty_errors.InvalidCountryCode:
        errors["iban"] = IBAN_COUNTRY.format(iban=shown, country=country)
    except schwifty_errors.InvalidLength:
        expected = IBAN(value, allow_invalid=True).spec.iban_length
        errors["iban"] = IBAN_LENGTH.format(iban=shown, length=len(value), country=country, expected=expected)
    except schwifty_errors.InvalidChecksumDigits:
        errors["iban"] = IBAN_CHECKSUM.format(iban=shown)
    except schwifty_errors.SchwiftyException:
        errors["iban"] = IBAN_STRUCTURE.format(iban=shown, country=country)
    else:
        return iban
    return None


def _bic(value: str, errors: dict[str, str]) -> BIC | None:
    try:
        return BIC(value)
    except schwifty_errors.InvalidCountryCode:
        errors["bic"] = BIC_COUNTRY.format(bic=value, country=value[4:6])
    except schwifty_errors.SchwiftyException:
        errors["bic"] = BIC_FORMAT.format(bic=value)
    return None


def _length_note(value: str, *, digits_only: bool) -> str:
    if digits_only and not value.isdigit():
        return ", not all digits"
    if not value.isascii() or not value.isalnum():
        return ", not only letters and digits"
    return ""


def payee_details_clean(data: Mapping[str, object]) -> PayeeDetails:
    """Validate and normalise the details a person typed; raise PayeeInvalid naming every field that is wrong."""
    errors: dict[str, str] = {}
    values = {name: _text(data.get(name)) for name in FIELD_LABELS}
    for name, value in values.items():
        if len(value) > (HOLDER_MAX * 2 if name == "account_holder" else RAW_MAX):
            raise PayeeInvalid({name: TOO_LONG.format(label=FIELD_LABELS[name], length=len(value),
                                                      limit=HOLDER_MAX if name == "account_holder" else RAW_MAX)})
    rail = values["rail"].strip().lower()
    if rail not in Rail.values:
        raise PayeeInvalid({"rail": UNKNOWN_RAIL.format(value=values["rail"], choices=", ".join(Rail.values))})
    rail_name = Rail(rail).label.split(" (")[0]
    currency = values["currency"].strip().upper()
    holder = _holder(values["account_holder"], errors)
    iban_text, bic_text = _compact(values["iban"]), _compact(values["bic"])
    routing, account = _compact(values["routing_number"]), _compact(values["account_number"])

    def required(name: str, value: str) -> bool:
        if not value:
            errors[name] = REQUIRED.format(label=FIELD_LABELS[name], rail=rail_name)
        return bool(value)

    def unused(*names: str) -> None:
        for name in names:
            if _compact(values[name]):
                errors[name] = NOT_USED.format(label=FIELD_LABELS[name], rail=rail_name)

    iban: IBAN | None = None
    bic: BIC | None = None
    if rail == Rail.SEPA:
        if currency != "EUR":
            errors["currency"] = RAIL_CURRENCY.format(rail=rail_name, expected="EUR", currency=currency or "none")
        unused("routing_number", "account_number")
        if required("iban", iban_text):
            iban = _iban(iban_text, errors)
            if iban is not None and not iban.in_sepa_zone:
                errors["iban"] = IBAN_NOT_SEPA.format(iban=iban.formatted, country=iban.country_code)
    elif rail == Rail.ACH:
        if currency != "USD":
            errors["currency"] = RAIL_CURRENCY.format(rail=rail_name, expected="USD", currency=currency or "none")
        unused("iban", "bic")
        if required("routing_number", routing):
            if not (len(routing) == 9 and routing.isdigit()):
                errors["routing_number"] = ROUTING_FORMAT.format(value=routing)
            else:
                try:
                    rtn.validate(routing)
                except StdnumError:
                    errors["routing_number"] = ROUTING_CHECK_DIGIT.format(value=routing)
        if required("account_number", account) and not (4 <= len(account) <= 17 and account.isdigit()):
            errors["account_number"] = ACH_ACCOUNT.format(length=len(account),
                                                          what=_length_note(account, digits_only=True))
    else:
        if currency not in CURRENCIES:
            errors["currency"] = UNKNOWN_CURRENCY.format(currency=currency)
        unused("iban", "routing_number")
        if required("account_number", account) and not (
                4 <= len(account) <= 34 and account.isascii() and account.isalnum()):
            errors["account_number"] = OTHER_ACCOUNT.format(length=len(account),
                                                            what=_length_note(account, digits_only=False))
    if bic_text and rail != Rail.ACH:
        bic = _bic(bic_text, errors)
        if bic is not None and iban is not None and bic.country_code != iban.country_code:
            errors["bic"] = BIC_OTHER_COUNTRY.format(bic=bic_text, bic_country=bic.country_code,
                                                     iban_country=iban.country_code)
    if errors:
        raise PayeeInvalid(errors)
    if iban is not None and bic is None:
        bic = iban.bic  # the bank registry's BIC for the IBAN's bank code, when it knows one
    account_text = str(iban.compact) if iban is not None else account
    return PayeeDetails(
        rail=rail, currency=currency, account_holder=holder, iban=str(iban.compact) if iban is not None else None,
        bic=str(bic.compact) if bic is not None else "", routing_number=routing or None,
        account_number=account or None, last4=account_text[-4:])


# Masked display: what anyone without payouts.view_payee_details sees (lists, pages, exports, the audit trail).

def mask_account(value: str | None) -> str:
    return f"···{value[-4:]}" if value else ""


def mask_iban(value: str | None) -> str:
    return f"{value[:2]}··· {value[-4:]}" if value else ""


def mask_holder(value: str | None) -> str:
    """Initials only: "Anna Schmidt" → "A··· S···"."""
    return " ".join(f"{word[0]}···" for word in (value or "").split()) if value else ""


MASKS = {"iban": mask_iban, "routing_number": mask_account, "account_number": mask_account,
         "account_holder": mask_holder}


def shown(name: str, value: str | None, *, full: bool) -> str:
    """A detail as a person sees it: in full with view_payee_details, else masked."""
    if value in (None, ""):
        return ""
    if name == "iban" and full:
        return _grouped(str(value))
    return str(value) if full or name not in MASKS else MASKS[name](value)


def payee_payable_refusal(payee: Payee | None, now: dt.datetime) -> str | None:
    """Why ``payee`` cannot be paid at ``now`` (a sentence), or None when it can. See the module docstring."""
    if payee is None:
        return NO_DETAILS
    if payee.blocked_reason:
        return BLOCKED.format(reason=payee.blocked_reason)
    if payee.hold_until is not None and payee.hold_until > now:
        return HELD.format(until=payee.hold_until.astimezone(dt.UTC), changed=payee.changed_at or payee.hold_until)
    return None


def payee_payable_q(now: dt.datetime, *, prefix: str = "") -> Q:
    """The ORM form of payee_payable_refusal(...) is None; ``prefix`` reaches the payee from another model
    (``"payee__"`` on Partner). A partner without a payee does not match."""
    return (Q(**{f"{prefix}blocked_reason": ""}) & (Q(**{f"{prefix}hold_until__isnull": True})
                                                   | Q(**{f"{prefix}hold_until__lte": now}))
            & Q(**{f"{prefix}pk__isnull": False}))


def payee_status(payee: Payee, now: dt.datetime) -> str:
    """One line for lists and pages: blocked, held (until when), confirmed, or payable."""
    refusal = payee_payable_refusal(payee, now)
    if refusal is not None:
        return refusal.split(";")[0].replace(" UTC:", " UTC —")
    if payee.confirmed_at is not None:
        return f"payable (change of {payee.changed_at:%Y-%m-%d} confirmed {payee.confirmed_at:%Y-%m-%d})"
    return "payable"
