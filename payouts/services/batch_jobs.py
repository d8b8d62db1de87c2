"""Releasing a large payment batch in a compute worker: a million payments take minutes to write and post, past
any web request's timeout (gunicorn's 30 s), so from PAYMENT_BATCH_BACKGROUND_FROM payments on the admin asks for
the release (``batch_release_request``) and a worker carries it out (``batch_release_run``, the task
``payouts.release_batch``) with the same ``batch_release`` and what the approver confirmed.

The request is checked as the release itself is (permission, a draft, four eyes, the count and control total typed
back), and the approver's second factor is checked by the page that asks. One request per batch is under way at a
time. Running the worker's part twice, or twice at once, releases once: it holds the request's row for the whole
release, and a request that is no longer queued is left as it is. A refusal at run time (the payees changed, the
approver lost the permission, a bank file refused) leaves the batch a draft and the request *failed* with the
reason, for a person to read and ask again; a crash leaves it queued, and the task's retry or redelivery runs it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.tasks import enqueue
from payouts.exceptions import BatchRefused, PayoutsError
from payouts.models import PaymentBatch, PaymentBatchRelease
from payouts.services.batches import batch_release, release_checked

R = PaymentBatchRelease.State
DEFAULT_BACKGROUND_FROM = 20_000
ALREADY_QUEUED = ("The release of {batch} was asked for by {user} at {at:%Y-%m-%d %H:%M %Z} and is waiting for a "
                  "worker; it cannot be asked for twice.")


def background_from() -> int:
    return int(getattr(settings, "PAYMENT_BATCH_BACKGROUND_FROM", DEFAULT_BACKGROUND_FROM))


def releases_in_background(batch: PaymentBatch) -> bool:
    """A batch this large is released by a worker (see the module's doc); a smaller one within the request."""
    return batch.payment_count >= background_from()


@transaction.atomic
def batch_release_request(*, batch_id: int, actor: User, expected_count: int,
                          expected_total_minor: int) -> PaymentBatchRelease:
    """Ask a worker to release the batch as ``actor``, with the count and control total they confirmed (checked
    now, and again by the worker under the batch's lock). Refused while an earlier request waits."""
    batch = release_checked(batch_id=batch_id, actor=actor, expected_count=expected_count,
                            expected_total_minor=expected_total_minor)
    waiting = PaymentBatchRelease.objects.select_related("requested_by").filter(batch=batch, state=R.QUEUED).first()
    if waiting is not None:
        raise BatchRefused(ALREADY_QUEUED.format(batch=batch, user=waiting.requested_by,
                                                 at=timezone.localtime(waiting.requested_at)))
    request, _ = PaymentBatchRelease.objects.update_or_create(batch=batch, defaults={
        "requested_by": actor, "requested_at": timezone.now(), "expected_count": expected_count,
        "expected_total_minor": expected_total_minor, "state": R.QUEUED, "finished_at": None, "error": ""})
    transaction.on_commit(lambda: enqueue("payouts.release_batch", batch.pk))
    return request


def batch_release_run(*, batch_id: int) -> str:
    """The worker's part: release the batch as asked, once; returns the request's state afterwards."""
    try:
        with transaction.atomic():
            request = (PaymentBatchRelease.objects.select_for_update().select_related("requested_by")
                       .filter(batch_id=batch_id).first())
            if request is None or request.state != R.QUEUED:
                return request.state if request is not None else "none"
            batch_release(batch_id=batch_id, actor=request.requested_by, expected_count=request.expected_count,
                          expected_total_minor=request.expected_total_minor)
            request.state, request.finished_at = R.DONE, timezone.now()
            request.save(update_fields=["state", "finished_at"])
            return R.DONE
    except PayoutsError as refused:
        with transaction.atomic():
            updated = PaymentBatchRelease.objects.filter(batch_id=batch_id, state=R.QUEUED).update(
                state=R.FAILED, finished_at=timezone.now(), error=str(refused))
        return R.FAILED if updated else PaymentBatchRelease.objects.get(batch_id=batch_id).state
