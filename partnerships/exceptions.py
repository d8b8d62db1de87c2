"""Domain errors of the partnerships app. Messages are constants so tests and callers can rely on them."""


class PartnershipsError(Exception):
    """Base class: a request that the rules refuse. Its message is meant for the person who asked."""


class TransitionError(PartnershipsError):
    pass


class NotPermitted(PartnershipsError):
    pass


class ApplicationRefused(PartnershipsError):
    pass


class ReasonRequired(PartnershipsError):
    pass


CANNOT_TRANSITION = "Cannot {action} an application that is {status}; only {allowed} ones can be {done}."
ALREADY_DECIDED = "This application was already {status} by {who} at {when:%Y-%m-%d %H:%M} UTC."
PROGRAM_CLOSED = "The program “{program}” is closed to new applications."
ALREADY_LIVE = "@{handle} already has a live application or membership in “{program}” (status: {status})."
COOLDOWN = (
    "@{handle} was rejected from “{program}” on {rejected:%Y-%m-%d} and may re-apply from {allowed:%Y-%m-%d} "
    "({days}-day cool-down)."
)
PARTNER_REMOVED = "@{handle} has been removed and cannot apply to programs."
OVERRIDE_REQUIRED = (
    "This application fails {rules}. Approving it needs an explicit eligibility override with a reason."
)
HARD_RULE_FAILED = "This application fails {rules}, which cannot be overridden."
PARTNER_ALREADY_STATUS = "@{handle} is already {status}."
PARTNER_NOT_SUSPENDED = "@{handle} is {status}; only suspended partners can be reinstated."
