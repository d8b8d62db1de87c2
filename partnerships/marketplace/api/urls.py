from django.http import JsonResponse
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from partnerships.marketplace.api import lean_search, views

router = SimpleRouter(trailing_slash=True)
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("invitations", views.InvitationViewSet, basename="invitation")

urlpatterns = [
    # Token requests of integrations skip DRF's dispatch (lean_search); every other request is the DRF view's.
    path("creators/", lean_search.with_lean_path(views.CreatorSearchView.as_view()), name="creator-search"),
    path("creators/<str:handle>/similar/", views.SimilarCreatorsView.as_view(), name="creator-similar"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: the content security policy allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
    # Anything else under the API is a JSON 404, like the API's own "not found", never an HTML page.
    re_path(r"^.*$", lambda request, *args, **kwargs: JsonResponse({"detail": "Not found."}, status=404)),
]
