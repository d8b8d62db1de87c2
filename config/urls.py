from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import health
from core.two_factor.forms import AdminLoginForm

admin.site.site_header = "Creator Partnerships"
admin.site.site_title = "Creator Partnerships"
admin.site.index_title = "Back-office"
# Password as before, plus an optional authenticator code that verifies the session for money actions.
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("admin/two-factor/", include("core.two_factor.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("partnerships.marketplace.api.urls")),
    path("brands/", include("partnerships.marketplace.pages.urls")),
    # The creator portal: django-allauth's accounts (sign-in, password reset, e-mail verification) and the pages.
    path("creators/account/", include("allauth.urls")),
    path("creators/", include("creators.pages.urls")),
]
