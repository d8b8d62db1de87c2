from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from partnerships.api import views

router = SimpleRouter(trailing_slash=True)
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("invitations", views.InvitationViewSet, basename="invitation")

urlpatterns = [
    path("creators/", views.CreatorSearchView.as_view(), name="creator-search"),
    path("creators/<str:handle>/similar/", views.SimilarCreatorsView.as_view(), name="creator-similar"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
]
