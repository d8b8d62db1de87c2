"""Large batches are created and released by a compute worker (payouts.services.batch_jobs): the admin asks, the
worker runs the same creation or release once, a refusal at run time leaves nothing (or a draft) and the reason, and
running it twice (also at once, on PostgreSQL) creates or releases once."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from payouts.exceptions import BatchRefused
from payouts.models import (
    LedgerTransaction,
    PaymentBatch,
    PaymentBatchCreation,
    PaymentBatchFile,
    PaymentBatchRelease,
    PaymentItem,
)
from payouts.services.batch_jobs import (
    batch_create_request,
    batch_create_run,
    batch_release_request,
    batch_release_run,
    releases_in_background,
)
from payouts.services.batches import batch_create, batch_preview
from tests.payouts.batches.helpers import approved_program_run, assert_ledger_balanced, hold, payee
from tests.payouts.batches.test_postgres_concurrency import at_once
from tests.second_factor import verified_client

S = PaymentBatchRelease.State
C = PaymentBatchCreation.State


@pytest.fixture
def partners(run_approver):
    found: dict = {}
    approved_program_run(run_approver, views={"ana": 3, "ben": 1}, partners=found)
    for partner in found.values():
        payee(partner)
    return found


@pytest.fixture
def draft(partners, maker):
    return batch_create(currency="USD", rail="ach", actor=maker)


def ask(batch, actor, *, total_off: int = 0):
    return batch_release_request(batch_id=batch.pk, actor=actor, expected_count=batch.payment_count,
                                 expected_total_minor=batch.control_total_minor + total_off)


@pytest.mark.django_db
def test_the_size_decides_where_a_batch_is_released(draft, settings):
    settings.PAYMENT_BATCH_BACKGROUND_FROM = 3
    assert draft.payment_count == 2
    assert not releases_in_background(draft)
    settings.PAYMENT_BATCH_BACKGROUND_FROM = 2
    assert releases_in_background(draft)


@pytest.mark.django_db
def test_the_admin_asks_and_the_worker_releases_once(draft, checker, settings, django_capture_on_commit_callbacks):
    settings.PAYMENT_BATCH_BACKGROUND_FROM = 1
    browser = Client(enforce_csrf_checks=True)
    verified_client(browser, checker)
    url = reverse("admin:payouts_paymentbatch_release", args=[draft.pk])
    page = browser.get(url)
    total = f"{draft.control_total_minor // 100:,}.{draft.control_total_minor % 100:02d}"

    with django_capture_on_commit_callbacks(execute=False) as queued:
        asked = browser.post(url, {"csrfmiddlewaretoken": str(page.context["csrf_token"]), "payments": "2",
                                   "control_total": total}, follow=True)

    assert "is queued: a compute worker writes its bank files" in asked.content.decode()
    assert "In progress: asked for by batch-checker" in asked.content.decode()
    assert PaymentBatch.objects.get(pk=draft.pk).status == "draft"  # nothing released within the request
    assert len(queued) == 1  # the task, sent once the request committed (not sent here: no worker to run it)
    assert batch_release_run(batch_id=draft.pk) == S.DONE  # what the task runs

    draft.refresh_from_db()
    assert (draft.status, draft.released_by) == ("released", checker)
    request = PaymentBatchRelease.objects.get(batch=draft)
    assert (request.state, request.requested_by, request.expected_count) == (S.DONE, checker, 2)
    assert request.finished_at is not None
    assert PaymentBatchFile.objects.filter(batch=draft).count() == 1
    assert batch_release_run(batch_id=draft.pk) == S.DONE  # a redelivered message changes nothing
    assert PaymentBatchRelease.objects.get(batch=draft).finished_at == request.finished_at
    assert LedgerTransaction.objects.filter(key__startswith=f"batch:{draft.pk}:").count() == 1
    assert_ledger_balanced()
    shown = browser.get(reverse("admin:payouts_paymentbatch_change", args=[draft.pk])).content.decode()
    assert "Released by a worker at" in shown


@pytest.mark.django_db
def test_a_request_is_checked_as_the_release_is(draft, maker, checker):
    with pytest.raises(BatchRefused, match="created batch"):
        ask(draft, maker)  # four eyes
    with pytest.raises(BatchRefused, match="You confirmed 2 payments"):
        ask(draft, checker, total_off=1)
    assert not PaymentBatchRelease.objects.exists()


@pytest.mark.django_db
def test_a_second_request_is_refused_while_one_waits(draft, checker, run_approver):
    ask(draft, checker)
    with pytest.raises(BatchRefused, match="is waiting for a worker; it cannot be asked for twice"):
        ask(draft, run_approver)
    assert PaymentBatchRelease.objects.get(batch=draft).requested_by == checker


@pytest.mark.django_db
def test_a_refusal_at_run_time_leaves_a_draft_with_the_reason_and_it_can_be_asked_again(draft, checker, partners):
    ask(draft, checker)
    hold(partners["ana"].payee)  # the payee's bank details changed after the batch was made

    assert batch_release_run(batch_id=draft.pk) == S.FAILED

    request = PaymentBatchRelease.objects.get(batch=draft)
    assert "bank details of some partners changed" in request.error
    assert PaymentBatch.objects.get(pk=draft.pk).status == "draft"
    assert not PaymentBatchFile.objects.filter(batch=draft).exists()
    assert not LedgerTransaction.objects.filter(key__startswith=f"batch:{draft.pk}:").exists()
    assert batch_release_run(batch_id=draft.pk) == S.FAILED  # run again: still the same failure, nothing more
    ask(draft, checker)  # a failed request can be asked for again
    assert PaymentBatchRelease.objects.get(batch=draft).state == S.QUEUED


@pytest.mark.django_db
def test_nothing_asked_nothing_released(draft):
    assert batch_release_run(batch_id=draft.pk) == "none"
    assert PaymentBatch.objects.get(pk=draft.pk).status == "draft"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_release_at_once_release_once(draft, checker):
    ask(draft, checker)

    results, errors = at_once(lambda: batch_release_run(batch_id=draft.pk),
                              lambda: batch_release_run(batch_id=draft.pk))

    assert errors == []
    assert sorted(results) == [S.DONE, S.DONE]
    assert PaymentBatch.objects.get(pk=draft.pk).status == "released"
    assert PaymentBatchFile.objects.filter(batch=draft).count() == 1
    assert LedgerTransaction.objects.filter(key__startswith=f"batch:{draft.pk}:").count() == 1
    assert_ledger_balanced()


def ask_to_create(actor):
    preview = batch_preview(currency="USD", rail="ach")
    return batch_create_request(currency="USD", rail="ach", actor=actor,
                                expected=(preview.payments, preview.total_minor))


@pytest.mark.django_db
def test_the_admin_asks_and_a_worker_creates_the_batch_once(partners, maker, settings,
                                                          django_capture_on_commit_callbacks):
    settings.PAYMENT_BATCH_BACKGROUND_FROM = 1
    browser = Client()
    browser.force_login(maker)
    preview = batch_preview(currency="USD", rail="ach")
    url = reverse("admin:payouts_paymentbatch_create")

    with django_capture_on_commit_callbacks(execute=False) as queued:
        asked = browser.post(url, {"currency": "USD", "rail": "ach", "create": "1",
                                   "previewed": f"USD:ach:{preview.payments}:{preview.total_minor}"}, follow=True)

    assert "batch of 2 payments is queued: a compute worker creates it" in asked.content.decode()
    assert asked.redirect_chain[-1][0] == reverse("admin:payouts_paymentbatchcreation_changelist")
    assert not PaymentBatch.objects.exists()  # nothing created within the request
    assert len(queued) == 1
    creation = PaymentBatchCreation.objects.get()
    assert batch_create_run(creation_id=creation.pk) == C.DONE
    assert batch_create_run(creation_id=creation.pk) == C.DONE  # a redelivered message creates nothing more

    batch = PaymentBatch.objects.get()
    creation.refresh_from_db()
    assert (creation.batch, batch.created_by) == (batch, maker)
    assert (batch.payment_count, batch.control_total_minor) == (preview.payments, preview.total_minor)
    listed = browser.get(reverse("admin:payouts_paymentbatchcreation_changelist")).content.decode()
    assert reverse("admin:payouts_paymentbatch_change", args=[batch.pk]) in listed


@pytest.mark.django_db
def test_one_creation_per_currency_and_rail_waits_at_a_time(partners, maker, checker):
    ask_to_create(maker)
    with pytest.raises(BatchRefused, match="is waiting for a worker; wait for it"):
        ask_to_create(checker)
    assert PaymentBatchCreation.objects.count() == 1


@pytest.mark.django_db
def test_a_creation_whose_figures_changed_fails_with_the_reason_and_creates_nothing(partners, maker, checker):
    creation = ask_to_create(maker)
    batch_create(currency="USD", rail="ach", actor=checker)  # someone paid those lines meanwhile

    assert batch_create_run(creation_id=creation.pk) == C.FAILED

    creation.refresh_from_db()
    assert "Nothing to pay in USD by ach" in creation.error
    assert creation.batch is None
    assert PaymentBatch.objects.count() == 1
    ask_to_create(maker)  # a failed creation does not block the next


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_creation_at_once_create_one_batch(partners, maker):
    creation = ask_to_create(maker)

    results, errors = at_once(lambda: batch_create_run(creation_id=creation.pk),
                              lambda: batch_create_run(creation_id=creation.pk))

    assert errors == []
    assert results == [C.DONE, C.DONE]
    assert PaymentBatch.objects.count() == 1
    assert PaymentItem.objects.count() == PaymentItem.objects.values("line_id").distinct().count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_asking_at_once_queue_one_creation(partners, maker, checker):
    results, errors = at_once(lambda: ask_to_create(maker), lambda: ask_to_create(checker))

    assert len(results) == 1
    assert [type(error) for error in errors] == [BatchRefused]
    assert PaymentBatchCreation.objects.filter(state=C.QUEUED).count() == 1
