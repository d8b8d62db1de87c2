"""Where a partner's money goes: the payee's bank account, encrypted at rest.

The account holder, IBAN, account and routing numbers are Fernet-encrypted columns (django-fernet-encrypted-fields,
keyed by SECRET_KEY and PAYEE_DATA_KEY); the database and its backups hold ciphertext only. ``last4`` is the one
plain trace of the account, for masked display in lists and exports. A change of bank details holds the partner's
next payment until ``hold_until`` unless a second person confirms the change (account takeover is the classic fraud);
a returned payment blocks the payee (``blocked_reason``) until the details are fixed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from encrypted_fields.fields import EncryptedCharField
from simple_history.models import HistoricalRecords

from core.validators import CURRENCY_CODE_VALIDATOR
from partnerships.models import Partner


class Payee(models.Model):
    class Rail(models.TextChoices):
        SEPA = "sepa", "SEPA credit transfer (IBAN, EUR)"
        ACH = "ach", "ACH (US routing and account number, USD)"
        OTHER = "other", "Other (CSV for the bank)"

    partner = models.OneToOneField(Partner, on_delete=models.PROTECT, related_name="payee")
    rail = models.CharField(max_length=8, choices=Rail.choices)
    currency = models.CharField(max_length=3, validators=[CURRENCY_CODE_VALIDATOR],
                                help_text="The currency the partner is paid in.")
    account_holder = EncryptedCharField(max_length=140, help_text="The account holder's name, as the bank has it.")
    iban = EncryptedCharField(max_length=34, null=True, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    routing_number = EncryptedCharField(max_length=9, null=True, blank=True, help_text="US ABA routing number.")
    account_number = EncryptedCharField(max_length=34, null=True, blank=True)
    last4 = models.CharField(max_length=4, editable=False, help_text="The account's last four characters.")

    changed_at = models.DateTimeField(null=True, blank=True, editable=False,
                                      help_text="When the bank details last changed.")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    hold_until = models.DateTimeField(null=True, blank=True, editable=False,
                                      help_text="Payments wait until then unless a second person confirms the change.")
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    blocked_reason = models.CharField(max_length=200, blank=True, editable=False,
                                      help_text="Set when a payment comes back; cleared when the details are fixed.")

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        permissions = [
            ("view_payee_details", "Can read a payee's full bank details"),
            ("confirm_payee", "Can confirm another person's change of bank details"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rail_display()} ···{self.last4} ({self.currency})"

    @property
    def masked_account(self) -> str:
        return f"···{self.last4}" if self.last4 else ""
