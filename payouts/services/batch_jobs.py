"""Creating and releasing a large payment batch in a compute worker: a million payments take a minute or more to
gather, write and post, past any web request's timeout (gunicorn's 30 s), so from PAYMENT_BATCH_BACKGROUND_FROM
payments on the admin asks (``batch_create_request``, ``batch_release_request``) and a worker carries it out
(``batch_create_run`` and ``batch_release_run``, the tasks ``payouts.create_batch`` and ``payouts.release_batch``)
with the same ``batch_create`` and ``batch_release`` and the figures the person saw or confirmed.

A request is checked as the work itself is (permission; for a release a draft, four eyes, the count and control
total typed back), and the approver's second factor is checked by the page that asks. One release per batch, and
one creation per currency and rail, waits at a time. Running the worker's part twice, or twice at once, creates or
releases once: it holds the request's row for the whole work, and a request no longer queued is left as it is. A
refusal at run time (the payees changed, the figures changed since the preview, the person lost the permission, a
bank file refused) leaves nothing created or a draft, and the request *failed* with the reason, for a person to
read and ask again; a crash leaves it queued, and the task's retry or redelivery runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.tasks import enqueue
from payouts.exceptions import BatchRefused, PayoutsError
from payouts.models import PaymentBatch, PaymentBatchCreation, PaymentBatchRelease
from payouts.services.batches import (
    CREATE_PERMISSION,
    batch_create,
    batch_release,
    check_currency_and_rail,
    release_checked,
)
from payouts.services.guards import require_permission

QUEUED, DONE, FAILED = "queued", "done", "failed"  # both requests' states
Job = TypeVar("Job", PaymentBatchCreation, PaymentBatchRelease)
DEFAULT_BACKGROUND_FROM = 20_000
CREATION_QUEUED = ("A {currency} batch by {rail} was asked for by {user} at {at:%Y-%m-%d %H:%M %Z} and is waiting "
                   "for a worker; wait for it (the list of batch creations shows it) before asking again.")
ALREADY_QUEUED = ("The release of {batch} was asked for by {user} at {at:%Y-%m-%d %H:%M %Z} and is waiting for a "
                  "worker; it cannot be asked for twice.")


def background_from() -> int:
    return int(getattr(settings, "PAYMENT_BATCH_BACKGROUND_FROM", DEFAULT_BACKGROUND_FROM))


def in_background(payments: int) -> bool:
    """A batch of this many payments is created and released by a worker (see the module's doc)."""
    return payments >= background_from()


def releases_in_background(batch: PaymentBatch) -> bool:
    return in_background(batch.payment_count)


@transaction.atomic
def batch_create_request(*, currency: str, rail: str, actor: User, expected: tuple[int, int]) -> PaymentBatchCreation:
    """Ask a worker to create the batch ``batch_create`` would, as ``actor``, paying exactly ``expected`` (count,
    total: what the preview showed). Refused while another creation in this currency and rail waits."""
    require_permission(actor, CREATE_PERMISSION, "create payment batches")
    currency, rail = check_currency_and_rail(currency, rail)
    try:
        with transaction.atomic():
            creation = PaymentBatchCreation.objects.create(
                currency=currency, rail=rail, requested_by=actor, requested_at=timezone.now(),
                expected_count=expected[0], expected_total_minor=expected[1])
    except IntegrityError:  # the partial unique constraint: one waiting per currency and rail
        waiting = PaymentBatchCreation.objects.select_related("requested_by").get(currency=currency, rail=rail,
                                                                                  state=QUEUED)
        raise BatchRefused(CREATION_QUEUED.format(currency=currency, rail=rail, user=waiting.requested_by,
                                                  at=timezone.localtime(waiting.requested_at))) from None
    transaction.on_commit(lambda: enqueue("payouts.create_batch", creation.pk))
    return creation


def batch_create_run(*, creation_id: int) -> str:
    """The worker's part: create the batch as asked, once; returns the creation's state afterwards."""

    def create(creation: PaymentBatchCreation) -> list[str]:
        creation.batch = batch_create(currency=creation.currency, rail=creation.rail, actor=creation.requested_by,
                                      expected=(creation.expected_count, creation.expected_total_minor))
        return ["batch"]

    return _run_once(PaymentBatchCreation, {"pk": creation_id}, create)


@transaction.atomic
def batch_release_request(*, batch_id: int, actor: User, expected_count: int,
                          expected_total_minor: int) -> PaymentBatchRelease:
    """Ask a worker to release the batch as ``actor``, with the count and control total they confirmed (checked
    now, and again by the worker under the batch's lock). Refused while an earlier request waits."""
    batch = release_checked(batch_id=batch_id, actor=actor, expected_count=expected_count,
                            expected_total_minor=expected_total_minor)
    waiting = PaymentBatchRelease.objects.select_related("requested_by").filter(batch=batch, state=QUEUED).first()
    if waiting is not None:
        raise BatchRefused(ALREADY_QUEUED.format(batch=batch, user=waiting.requested_by,
                                                 at=timezone.localtime(waiting.requested_at)))
    request, _ = PaymentBatchRelease.objects.update_or_create(batch=batch, defaults={
        "requested_by": actor, "requested_at": timezone.now(), "expected_count": expected_count,
        "expected_total_minor": expected_total_minor, "state": QUEUED, "finished_at": None, "error": ""})
    transaction.on_commit(lambda: enqueue("payouts.release_batch", batch.pk))
    return request


def batch_release_run(*, batch_id: int) -> str:
    """The worker's part: release the batch as asked, once; returns the request's state afterwards."""

    def release(request: PaymentBatchRelease) -> list[str]:
        batch_release(batch_id=batch_id, actor=request.requested_by, expected_count=request.expected_count,
                      expected_total_minor=request.expected_total_minor)
        return []

    return _run_once(PaymentBatchRelease, {"batch_id": batch_id}, release)


def _run_once(model: type[Job], lookup: dict[str, int], work: Callable[[Job], list[str]]) -> str:
    """Carry out the queued request ``lookup`` finds with ``work`` (which returns the request's fields it set), once:
    under the request's row lock, in one transaction with the work; done, or failed with a refusal's reason (the
    work rolled back). A request that is not queued (done, failed, or none) is left as it is."""
    try:
        with transaction.atomic():
            request = model.objects.select_for_update().select_related("requested_by").filter(**lookup).first()
            if request is None or request.state != QUEUED:
                return request.state if request is not None else "none"
            changed: list[str] = work(request)
            request.state, request.finished_at = DONE, timezone.now()
            request.save(update_fields=[*changed, "state", "finished_at"])
            return DONE
    except PayoutsError as refused:
        with transaction.atomic():
            updated = model.objects.filter(**lookup, state=QUEUED).update(state=FAILED, finished_at=timezone.now(),
                                                                          error=str(refused))
        return FAILED if updated else model.objects.get(**lookup).state
