"""The creator pages: programs (eligibility, apply, withdraw), brand invitations (answer), earnings (statements and
their CSV), profile and notification preferences, and the account claim page.

Every object is looked up within the signed-in user's partner (creators.selectors), so another partner's id is a
404; writes go through the same services as the admin and the API, with the creator's user as the actor."""

from __future__ import annotations

import csv
import datetime as dt
import re
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.spreadsheets import safe_cell
from creators import selectors, words
from creators.exceptions import CreatorsError
from creators.models import NotificationPreference, PartnerContact
from creators.pages.forms import AnswerForm, ClaimForm, PreferencesForm, ProfileForm
from creators.services.claims import claim_invitation_accept, claim_invitation_for
from creators.services.profile import notification_preferences_update, partner_profile_update
from partnerships.exceptions import PartnershipsError
from partnerships.marketplace.services import invitation_answer
from partnerships.models import Invitation
from partnerships.services.enrolments import enrolment_submit, enrolment_withdraw
from payouts.explain import explain_line
from payouts.selectors import STATEMENT_HEADER, statement_row

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
NOT_A_CREATOR = "This account does not act for a partner."


def _date(value) -> str:
    return formats.date_format(value, "DATE_FORMAT")


def creator_required(view):
    """Signed in (else the creator sign-in page, not the brands') and acting for a partner (else 404)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            login_url = reverse("account_login")
            return HttpResponseRedirect(f"{login_url}?{urlencode({'next': request.get_full_path()})}")
        partner = selectors.user_partner(request.user)
        if partner is None:
            raise Http404(NOT_A_CREATOR)
        request.partner = partner
        return view(request, *args, **kwargs)

    return wrapper


@creator_required
def programs(request):
    views = selectors.partner_programs(request.partner)
    rows = [{"view": view, "rules": [words.rule_row(rule) for rule in view.rules],
             "status": words.status(view.enrolment.status) if view.enrolment else "",
             "refusal": _refusal(view)} for view in views]
    return render(request, "creators/programs.html", {"programs": rows})


def _refusal(view: selectors.ProgramView) -> str:
    """Why applying is refused now, in the visitor's language (the service's sentence is English)."""
    if not view.refusal:
        return ""
    if view.reapply_from:
        return _("You may apply again from %(date)s (cool-down after a rejection).") % {
            "date": _date(view.reapply_from)}
    if not view.program.is_open:
        return _("This program is closed to new applications.")
    if view.enrolment and view.enrolment.status in ("submitted", "approved", "suspended"):
        return _("You already have a live application or membership here.")
    return _("You cannot apply to programs at the moment.")


@require_POST
@creator_required
def program_apply(request, program_id: int):
    views = {view.program.pk: view for view in selectors.partner_programs(request.partner)}
    if program_id not in views:
        raise Http404("No such program.")
    try:
        enrolment_submit(partner_id=request.partner.pk, program_id=program_id, actor=request.user)
    except PartnershipsError as exc:
        messages.error(request, _refusal(views[program_id]) or str(exc))
    else:
        messages.success(request, _("Applied to “%(program)s”: your application is pending.") % {
            "program": views[program_id].program.name})
    return HttpResponseRedirect(reverse("creators:programs"))


@require_POST
@creator_required
def enrolment_withdraw_view(request, enrolment_id: int):
    enrolment = selectors.partner_enrolment(request.partner, enrolment_id)
    if enrolment is None:
        raise Http404("No such application.")
    try:
        enrolment_withdraw(enrolment_id=enrolment.pk, actor=request.user, reason="Withdrawn by the partner")
    except PartnershipsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Withdrawn from “%(program)s”.") % {"program": enrolment.program.name})
    return HttpResponseRedirect(reverse("creators:programs"))


def _invitation_row(invitation: Invitation) -> dict:
    now = timezone.now()
    expired = invitation.status == Invitation.Status.EXPIRED or (
        invitation.status == Invitation.Status.INVITED and invitation.expires_at <= now)
    return {"invitation": invitation, "fee": words.money(invitation.offered_fee_minor, invitation.currency),
            "open": invitation.status == Invitation.Status.INVITED and invitation.expires_at > now,
            "expired": expired, "status": words.status("expired" if expired else invitation.status)}


@creator_required
def invitations(request):
    rows = [_invitation_row(invitation) for invitation in selectors.partner_invitations(request.partner)[:200]]
    return render(request, "creators/invitations.html", {"rows": rows})


@creator_required
def invitation_detail(request, invitation_id: int):
    invitation = selectors.partner_invitation(request.partner, invitation_id)
    if invitation is None:
        raise Http404("No such invitation.")
    form = AnswerForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                invitation_answer(invitation_id=invitation.pk, accept=form.cleaned_data["answer"] == "accept",
                                  actor=request.user, message=form.cleaned_data["message"])
            except PartnershipsError as exc:
                expired = _("This invitation expired on %(date)s: it can no longer be accepted or declined.") % {
                    "date": _date(invitation.expires_at)}
                messages.error(request, expired if invitation.expires_at <= timezone.now() else str(exc))
                status = 400
            else:
                messages.success(request, _("Your answer was sent to the brand."))
                return HttpResponseRedirect(reverse("creators:invitation", args=[invitation.pk]))
        else:
            status = 400
        invitation.refresh_from_db()
    return render(request, "creators/invitation.html", {**_invitation_row(invitation), "form": form}, status=status)


@creator_required
def earnings(request):
    months = selectors.partner_earnings(request.partner)
    rows = [{"month": month.month, "lines": [
        {"run": run, "line": line, "steps": steps, "net": words.money(line.net_minor, run.currency),
         "status": words.status(line.status),
         "gross": words.money(line.gross_minor, run.currency)} for run, line, steps in month.lines]}
        for month in months]
    estimates = [{"line": line, "gross": words.money(line.gross_minor, line.run.currency)}
                 for line in selectors.partner_estimates(request.partner)]
    payments = [{"payment": payment, "amount": words.money(payment.amount_minor, payment.currency),
                 "status": str(words.PAYMENT_STATUSES.get(payment.status, payment.status))}
                for payment in selectors.partner_payments(request.partner)]
    return render(request, "creators/earnings.html", {"months": rows, "estimates": estimates,
                                                      "payments": payments})


@creator_required
def earnings_csv(request, month: str):
    match = MONTH.match(month)
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise Http404("No such month.")
    first = dt.date(int(match.group(1)), int(match.group(2)), 1)
    lines = list(selectors.partner_earning_lines(request.partner, first))
    if not lines:
        raise Http404("No statement for this month.")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="statement-{request.partner.handle}-{month}.csv"'
    writer = csv.writer(response)
    writer.writerow(STATEMENT_HEADER)
    for line in lines:
        writer.writerow([safe_cell(cell) for cell in statement_row(line.run, line, explain_line(line, line.run))])
    return response


@creator_required
def profile(request):
    partner = request.partner
    contact = PartnerContact.objects.filter(partner=partner).first()
    initial = {"display_name": partner.display_name, "categories": list(partner.categories.all()),
               "opted_into_brand_deals": partner.opted_into_brand_deals,
               "contact_email": contact.email if contact else ""}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            partner_profile_update(partner_id=partner.pk, actor=request.user, **form.cleaned_data)
            messages.success(request, _("Profile saved."))
            return HttpResponseRedirect(reverse("creators:profile"))
        return render(request, "creators/profile.html", {"form": form, "partner": partner,
                                                         **selectors.partner_payout_details(partner)}, status=400)
    return render(request, "creators/profile.html", {"form": form, "partner": partner,
                                                     **selectors.partner_payout_details(partner)})


@creator_required
def preferences(request):
    preference = NotificationPreference.objects.filter(user=request.user).first() or NotificationPreference()
    initial = {name: getattr(preference, name) for name in PreferencesForm.base_fields}
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        notification_preferences_update(user=request.user, **form.cleaned_data)
        messages.success(request, _("Notification preferences saved."))
        return HttpResponseRedirect(reverse("creators:preferences"))
    return render(request, "creators/preferences.html", {"form": form})


def claim(request, token: str):
    """The link from the claim e-mail: set a password, get the account, be signed in."""
    try:
        invitation = claim_invitation_for(token)
    except CreatorsError as exc:
        return render(request, "creators/claim_refused.html", {"reason": str(exc)}, status=410)
    form = ClaimForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = claim_invitation_accept(token=token, password=form.cleaned_data["password1"])
        except ValidationError as exc:
            form.add_error("password1", exc)
        except CreatorsError as exc:
            return render(request, "creators/claim_refused.html", {"reason": str(exc)}, status=410)
        else:
            login(request, user, backend="allauth.account.auth_backends.AuthenticationBackend")
            messages.success(request, _("Welcome: your account acts for @%(handle)s.") % {
                "handle": invitation.partner.handle})
            return HttpResponseRedirect(reverse("creators:programs"))
    return render(request, "creators/claim.html", {"form": form, "claim": invitation},
                  status=400 if request.method == "POST" else 200)
