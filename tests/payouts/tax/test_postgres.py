"""On PostgreSQL: two people recording the same partner's first tax form at once make one profile, with two
versions in its history, never an error or a second row."""

import threading

import pytest
from django.db import connection

from payouts.models import TaxProfile
from payouts.roles import ensure_group_permissions
from payouts.services.tax import tax_profile_save
from tests.partnerships.factories import PartnerFactory, UserFactory
from tests.payouts.tax.helpers import F, S

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_first_saves_at_once_make_one_profile():
    ensure_group_permissions()
    partner = PartnerFactory(handle="both", country="DE")
    people = [UserFactory(username=f"fin{index}", groups=["Finance approvers"]) for index in range(2)]
    ensure_group_permissions()
    barrier, errors = threading.Barrier(2), []

    def save(actor, country):
        try:
            barrier.wait()
            tax_profile_save(partner_id=partner.pk, actor=actor, form_type=F.W8BEN, status=S.VALIDATED,
                             residence_country=country, reason=f"checked by {actor.username}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(person, country))
               for person, country in zip(people, ["DE", "AT"], strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    profile = TaxProfile.objects.get(partner=partner)
    assert profile.history.count() == 2  # the second waited for the first's lock, then changed its country
    assert profile.residence_country == profile.history.latest().residence_country
