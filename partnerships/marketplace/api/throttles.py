"""The API's rate limits: the marketplace's per-brand budgets (``partnerships.marketplace.throttling``), shared with
the brand pages, so a brand's integration and its people draw on one allowance and cannot starve other brands."""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from partnerships.marketplace import throttling
from partnerships.models import ApiToken


class BrandRateThrottle(BaseThrottle):
    """All requests against the brand's budget (BRAND_RATE), writes also against its write budget
    (BRAND_WRITE_RATE). Refused requests get DRF's 429 with Retry-After."""

    def __init__(self) -> None:
        self._wait = 0

    def allow_request(self, request, view) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        idents = throttling.budget_idents(request.user, token, anonymous=self.get_ident(request))
        self._wait = throttling.spend(idents, method=request.method)
        return not self._wait

    def wait(self) -> float | None:
        return self._wait or None
