"""Domain errors of the creator portal. Messages are constants so tests and callers can rely on them."""

from partnerships.exceptions import PartnershipsError


class CreatorsError(PartnershipsError):
    """A request the portal's rules refuse; the message is for the person who asked."""


CLAIM_UNKNOWN = "This account link is not valid. Ask your partner manager for a new one."
CLAIM_USED = "This account link was already used on {when:%Y-%m-%d}. Sign in instead, or reset your password."
CLAIM_EXPIRED = "This account link expired on {when:%Y-%m-%d %H:%M} UTC. Ask your partner manager for a new one."
EMAIL_TAKEN = "An account with the e-mail address {email} already exists. Sign in instead, or reset your password."
NO_EMAIL = "A valid e-mail address is required to send an account link."
NO_PERMISSION = "{user} may not send account links: it needs the permission “{permission}”."
