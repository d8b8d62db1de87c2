"""Domain errors of the payouts app, with their messages as constants."""


class PayoutsError(Exception):
    """A request the money rules refuse; the message is for the person who asked."""


class RunRefused(PayoutsError):
    pass


class NotPermitted(PayoutsError):
    pass


class FundOverdrawn(PayoutsError):
    pass


class QueueUnavailable(PayoutsError):
    """The run was opened but its task could not be handed to the broker; it stays computing and is re-queued."""


MONTH_NOT_ENDED = (
    "{month:%B %Y} has not ended yet in {tz} (today there is {today:%Y-%m-%d}); compute it from {next:%Y-%m-%d}."
)
MONTH_NOT_FIRST_DAY = "A payout month is given by its first day (for example 2026-10-01), not {month}."
NO_FUND = "“{program}” has no fund: create one (with its budget tranches) before computing payouts."
NO_TERMS = "“{program}” has no money terms: set them in the admin before computing payouts."
NOT_PAYING_PROGRAM = "“{program}” is a brand-deals program: it pays per campaign, not by monthly runs."
NO_TRANCHE = "Fund “{fund}” has no budget for {month:%B %Y}: add a budget tranche covering that month."
CURRENCY_MISMATCH = "Fund “{fund}” is in {fund_currency} but the program pays in {program_currency}."
FUND_OVERDRAWN = (
    "Run {run} would spend {spend} but fund “{fund}” has {remaining} left: top up the fund or cancel the run."
)
QUEUE_UNAVAILABLE = (
    "Run {run} is opened and stays computing, but the task queue is unavailable right now ({error}); the scheduler "
    "hands it to a worker within {minutes} minutes of the queue coming back, or use “Compute again” then."
)
FOUR_EYES = "{user} {role} and so cannot approve it: another finance approver must."
RUN_STALE = "Run {run} is stale ({reason}): compute it again before approving it."
NOT_RECONCILED = "Cannot {action} run {run}: it does not reconcile: {checks}. Compute it again or ask finance to look."
COMPUTE_STOPPED = (
    "Computing stopped on an unexpected error ({error}); nothing of this run was kept. Compute it again once the "
    "cause is fixed; the error is in the worker's log."
)
AMOUNT_TOO_LARGE = (
    "Run {run} has an amount past the largest this system stores (±{limit} minor units); nothing was rounded and "
    "no line was written: check the month's inputs and the terms' rates."
)
ADJUSTMENT_NOT_COVERED = (
    "held: the fund had {available} left for {run}; it waits for a month with budget (other lines were paid)"
)
ADJUSTMENT_DECIDED = "Adjustment {adjustment} is already {status}."
ADJUSTMENT_FOUR_EYES = "{user} created this adjustment and so cannot approve it: another finance approver must."
ADJUSTMENT_MADE_STALE = "adjustment {adjustment.pk} of {amount} for partner {adjustment.partner_id} approved by {user}"
WRONG_STATUS = "Cannot {action} run {run}: it is {status}; only {allowed} runs can be {done}."
REFERENCE_REQUIRED = "A payment reference (the bank batch or transfer id) is required to mark a run paid."
ADJUSTMENT_ZERO = "An adjustment of zero changes nothing: enter a positive or negative amount."
NEGATIVE_BUDGET = "A budget cannot be negative ({amount})."
NO_PAYMENT_FILE = "{run} is {status}: only an approved or paid run has a payment file."
AMOUNT_INVALID = "{text!r} is not an amount within ±{limit:,} (minor units)."

# Ad revenue ingestion: one row of a file, listed in the error report with its row and column.
NOT_REVENUE_SHARE_MEMBER = "the partner is not an approved member of a revenue-share program"
CURRENCY_NOT_PROGRAM = "{currency} does not match the currency of the partner's revenue-share program ({expected})"
# A row of a closed month (payouts.closed_months), whatever path it comes by: bulk file, spreadsheet, admin form.
MONTH_CLOSED = (
    "{month:%B %Y} is closed for “{program}” (run {run}, {status}): record a late correction as an adjustment "
    "for a later run"
)

# Payment batches and bank statements (payouts.services.batches, payouts.services.statements).
class BatchRefused(PayoutsError):
    pass


class StatementRefused(PayoutsError):
    pass


class StatementAlreadyImported(StatementRefused):
    def __init__(self, message: str, statement_id: int) -> None:
        super().__init__(message)
        self.statement_id = statement_id


BATCH_UNKNOWN_CURRENCY = "{currency!r} is not a currency this system pays in (a three-letter ISO 4217 code)."
BATCH_UNKNOWN_RAIL = "{rail!r} is not a payment rail; choose one of: {rails}."
BATCH_RAIL_CURRENCY = "The {rail} rail pays in {expected} only, not {currency}."
BATCH_NOTHING_TO_PAY = (
    "Nothing to pay in {currency} by {rail}: no approved run has a payable line that no other batch covers{left_out}."
)
BATCH_PREVIEW_CHANGED = (
    "What a {currency} {rail} batch pays changed since the preview: it is now {count} payments for {total}, and you "
    "saw {expected_count} for {expected_total}. Nothing was created: check the figures below and create again."
)
BATCH_WRONG_STATUS = "Cannot {action} {batch}: it is {status}; only draft batches can be {done}."
BATCH_FOUR_EYES = "{user} created {batch} and so cannot release it: another finance approver must."
BATCH_CONFIRMATION_DIFFERS = (
    "You confirmed {expected_count} payments for {expected_total}, but {batch} holds {count} payments for {total}: "
    "reload the batch's page, check it again and confirm what it shows."
)
BATCH_PAYEES_CHANGED = (
    "Cannot release {batch}: the bank details of some partners changed or are held since it was made ({payments}). "
    "Cancel the batch and create it again."
)
RUN_IN_BATCH = (
    "Run {run} is covered by payment batch {batches}: it becomes paid when the bank statement says its payments "
    "were paid, not by hand."
)
STATEMENT_TOO_LARGE = "The statement is {size:,} bytes; at most {limit:,} bytes are accepted."
STATEMENT_ALREADY_IMPORTED = (
    "Statement {identifier} was already imported by {user} on {when:%Y-%m-%d %H:%M} UTC; nothing changed."
)
UNREVIEWED_FLAGS = (
    "Cannot approve run {run}: flagged lines nobody has reviewed yet: {count} (partners {partners}). "
    "A partnership manager must hold or clear each flagged line first."
)
NOT_FLAGGED = "Partner {partner} has no flagged line in run {run}: only flagged lines are held or cleared here."
SCREENING_CLOSED = "Run {run} is {status}: flagged lines are held or cleared only while a monthly run awaits approval."
FORFEIT_NOT_HELD = (
    "Partner {partner}'s line in run {run} is {status}: only a line held by screening in an approved or paid monthly "
    "run can be forfeited."
)
FORFEIT_NOTHING = "Partner {partner}'s line in run {run} leaves {amount} on the partner's balance: nothing to forfeit."
FORFEIT_CARRIED = (
    "Partner {partner}'s held balance from run {run} was carried into run {later}: forfeit it there (or cancel that "
    "run first)."
)
FORFEIT_BALANCE_SHORT = (
    "Partner {partner}'s payable balance ({balance}) no longer holds the {amount} of the line in run {run}: nothing "
    "was forfeited."
)
