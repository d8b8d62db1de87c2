from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from partnerships.marketplace.pages import views

app_name = "brands"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="brands:creators", permanent=False)),
    path("login/", views.BrandLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="brands:login"), name="logout"),
    path("creators/", views.creator_search, name="creators"),
    path("creators/shortlist/", views.creators_shortlist, name="creators_shortlist"),
    path("creators/<str:handle>/similar/", views.creator_similar, name="creator_similar"),
    path("campaigns/", views.campaign_list, name="campaigns"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign"),
    path("campaigns/<int:campaign_id>/close/", views.campaign_close, name="campaign_close"),
    path("campaigns/<int:campaign_id>/invite/", views.campaign_invite, name="invite"),
    path("campaigns/<int:campaign_id>/shortlist/", views.shortlist_add, name="shortlist_add"),
    path("campaigns/<int:campaign_id>/shortlist/<str:handle>/remove/", views.shortlist_remove,
         name="shortlist_remove"),
    path("invitations/<int:invitation_id>/withdraw/", views.invitation_withdraw, name="withdraw"),
]
