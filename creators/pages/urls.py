from django.urls import path
from django.views.generic import RedirectView

from creators.pages import views

app_name = "creators"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="creators:programs", permanent=False), name="home"),
    path("claim/<str:token>/", views.claim, name="claim"),
    path("programs/", views.programs, name="programs"),
    path("programs/<int:program_id>/apply/", views.program_apply, name="apply"),
    path("applications/<int:enrolment_id>/withdraw/", views.enrolment_withdraw_view, name="withdraw"),
    path("invitations/", views.invitations, name="invitations"),
    path("invitations/<int:invitation_id>/", views.invitation_detail, name="invitation"),
    path("earnings/", views.earnings, name="earnings"),
    path("earnings/<str:month>.csv", views.earnings_csv, name="earnings_csv"),
    path("profile/", views.profile, name="profile"),
    path("notifications/", views.preferences, name="preferences"),
]
