"""The API's rate limits."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from partnerships.models import ApiToken


class BrandRateThrottle(SimpleRateThrottle):
    """One budget per brand (the token's), so one brand's integration cannot starve the others."""

    scope = "brand"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return self.cache_format % {"scope": self.scope, "ident": f"brand-{request.auth.brand_id}"}
        if request.user and request.user.is_authenticated:
            return self.cache_format % {"scope": self.scope, "ident": f"user-{request.user.pk}"}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
