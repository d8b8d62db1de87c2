"""Saving and confirming bank details: the first details set no hold, a change of account holds payments until a
second person confirms it, every write is a version with its actor and reason; and whether a payee can be paid."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from payouts.exceptions import NotPermitted
from payouts.models import Payee
from payouts.payees import PAYEE_PAYABLE_SQL, PayeeInvalid, PayeeRefused, payee_payable_q, payee_payable_refusal
from payouts.services.payees import payee_block, payee_confirm, payee_save
from tests.payouts.payees.conftest import ACH, NL_IBAN, SEPA


def test_the_first_details_set_no_hold(partner, payee_admin):
    payee = payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin, reason="onboarding form")
    assert (payee.hold_until, payee.changed_at, payee.changed_by, payee.last4) == (None, None, None, "3000")
    assert payee_payable_refusal(payee, timezone.now()) is None
    [version] = payee.history.all()
    assert (version.history_user, version.history_change_reason) == (payee_admin, "onboarding form")


def test_a_change_of_account_holds_payments_and_clears_a_block(partner, payee_admin, settings):
    settings.PAYEE_CHANGE_HOLD_DAYS = 5
    payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    payee_block(partner_id=partner.pk, reason="AC04 account closed")
    before = timezone.now()
    payee = payee_save(partner_id=partner.pk, data={**SEPA, "iban": NL_IBAN}, actor=payee_admin,
                       reason="partner's e-mail of 3 December")
    assert payee.changed_by == payee_admin
    assert payee.changed_at >= before
    assert payee.hold_until == payee.changed_at + dt.timedelta(days=5)
    assert payee.blocked_reason == ""
    assert (payee.confirmed_at, payee.confirmed_by, payee.iban, payee.last4) == (None, None, NL_IBAN, "4300")
    assert payee_payable_refusal(payee, timezone.now()).startswith(f"held until {payee.hold_until:%Y-%m-%d}")
    assert payee.history.first().history_change_reason.startswith("partner's e-mail of 3 December (Bank details "
                                                                  "changed; payments held until")


@pytest.mark.parametrize("change", [{"account_holder": "Anna Schmidt-Weber"}, {"rail": "ach", **ACH}])
def test_a_change_of_holder_or_rail_is_a_change_of_account(partner, payee_admin, change):
    payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    data = {**SEPA, **change}
    if change.get("rail") == "ach":
        data.pop("iban")
    assert payee_save(partner_id=partner.pk, data=data, actor=payee_admin).hold_until is not None


def test_the_same_details_again_change_nothing_and_the_bic_alone_sets_no_hold(partner, payee_admin):
    payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    payee = payee_save(partner_id=partner.pk, data={**SEPA, "iban": SEPA["iban"].replace(" ", "")},
                       actor=payee_admin)
    assert payee.history.count() == 1
    payee = payee_save(partner_id=partner.pk, data={**SEPA, "bic": "COBADEFF"}, actor=payee_admin)
    assert (payee.bic, payee.hold_until, payee.history.count()) == ("COBADEFF", None, 2)


def test_the_person_who_changed_the_details_cannot_confirm_them(partner, payee_admin, approver):
    payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    approver.groups.add(*payee_admin.groups.all())  # may change and confirm, but not both for one change
    payee_save(partner_id=partner.pk, data={**SEPA, "iban": NL_IBAN}, actor=approver)
    with pytest.raises(PayeeRefused, match="approver made this change of bank details and so cannot confirm it"):
        payee_confirm(partner_id=partner.pk, actor=approver)
    payee = Payee.objects.get(partner=partner)
    assert payee.confirmed_at is None
    assert payee.hold_until is not None


def test_a_second_person_confirms_and_the_hold_lifts(partner, payee_admin, approver):
    payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    payee_save(partner_id=partner.pk, data={**SEPA, "iban": NL_IBAN}, actor=payee_admin)
    payee = payee_confirm(partner_id=partner.pk, actor=approver, reason="called back on the known number")
    assert (payee.confirmed_by, payee.hold_until) == (approver, None)
    assert payee_payable_refusal(payee, timezone.now()) is None
    version = payee.history.first()
    assert (version.history_user, version.history_change_reason) == (
        approver, "called back on the known number (Change of bank details confirmed; hold lifted.)")
    with pytest.raises(PayeeRefused, match="already confirmed by approver"):
        payee_confirm(partner_id=partner.pk, actor=approver)


def test_first_details_have_nothing_to_confirm(partner, payee_admin, approver):
    payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    with pytest.raises(PayeeRefused, match="no unconfirmed change"):
        payee_confirm(partner_id=partner.pk, actor=approver)


def test_permissions_payee_administrators_cannot_confirm_and_approvers_cannot_change(
        partner, payee_admin, other_payee_admin, approver):
    with pytest.raises(NotPermitted, match="approver may not add bank details"):
        payee_save(partner_id=partner.pk, data=SEPA, actor=approver)
    payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    payee_save(partner_id=partner.pk, data={**SEPA, "iban": NL_IBAN}, actor=payee_admin)
    with pytest.raises(NotPermitted, match="keeper2 may not confirm a change of bank details"):
        payee_confirm(partner_id=partner.pk, actor=other_payee_admin)
    with pytest.raises(NotPermitted, match="approver may not change bank details"):
        payee_save(partner_id=partner.pk, data=SEPA, actor=approver)
    assert Payee.objects.get(partner=partner).iban == NL_IBAN


def test_invalid_details_write_nothing(partner, payee_admin):
    with pytest.raises(PayeeInvalid):
        payee_save(partner_id=partner.pk, data={**SEPA, "iban": "DE88370400440532013000"}, actor=payee_admin)
    assert not Payee.objects.exists()
    assert not Payee.history.exists()


def payable_by_sql(now) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT p.partner_id FROM payouts_payee p WHERE " + PAYEE_PAYABLE_SQL.format(payee="p"),
                       [now])
        return {row[0] for row in cursor.fetchall()}


def test_payable_refusal_and_its_set_forms_agree_for_held_blocked_and_fine(payee_admin):
    from tests.partnerships.factories import PartnerFactory

    fine, held, blocked, expired = (PartnerFactory() for _ in range(4))
    for partner in (fine, held, blocked, expired):
        payee_save(partner_id=partner.pk, data=SEPA, actor=payee_admin)
    payee_save(partner_id=held.pk, data={**SEPA, "iban": NL_IBAN}, actor=payee_admin)
    payee_block(partner_id=blocked.pk, reason="AC04 account closed")
    Payee.objects.filter(partner=expired).update(hold_until=timezone.now() - dt.timedelta(minutes=1))
    now = timezone.now()
    refusals = {payee.partner_id: payee_payable_refusal(payee, now) for payee in Payee.objects.all()}
    assert refusals[fine.pk] is None
    assert refusals[expired.pk] is None
    assert refusals[blocked.pk] == "blocked: AC04 account closed; fix the bank details to lift it"
    assert "a second person can confirm the change to lift the hold" in refusals[held.pk]
    assert payee_payable_refusal(None, now) == "no bank details: add the partner's payee details first"
    payable = {fine.pk, expired.pk}
    assert set(Payee.objects.filter(payee_payable_q(now)).values_list("partner_id", flat=True)) == payable
    from partnerships.models import Partner

    assert set(Partner.objects.filter(payee_payable_q(now, prefix="payee__")).values_list("pk", flat=True)) == payable
    assert payable_by_sql(now) == payable


def test_the_deploy_check_wants_a_payee_data_key_without_debug(settings):
    from payouts.checks import PAYEE_DATA_KEY_MISSING, payee_data_key_check

    settings.DEBUG, settings.SALT_KEY = False, []
    assert payee_data_key_check() == [PAYEE_DATA_KEY_MISSING]
    settings.SALT_KEY = ["a-long-random-key"]
    assert payee_data_key_check() == []
    settings.DEBUG, settings.SALT_KEY = True, []
    assert payee_data_key_check() == []


def test_a_negative_hold_is_a_system_check_error(settings):
    from payouts.checks import payee_hold_days_check

    settings.PAYEE_CHANGE_HOLD_DAYS = -1
    [error] = payee_hold_days_check()
    assert error.id == "payouts.E002"
    settings.PAYEE_CHANGE_HOLD_DAYS = 0
    assert payee_hold_days_check() == []
