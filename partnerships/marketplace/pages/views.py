"""The brand pages: sign in, search creators, campaigns with their matches and shortlist, invite, follow the answers.

The same parameters validate the search as in the API (params), the same search, selectors and matching read and
the same services write; every object is looked up within the signed-in user's brands, so other brands' ids are
404s."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.money import format_money
from partnerships.marketplace import matching, params, search, search_cache, selectors, services
from partnerships.marketplace.pages.forms import CampaignForm, InvitationFeeForm
from partnerships.marketplace.rules import user_brands
from partnerships.marketplace.services import MarketplaceError
from partnerships.marketplace.throttling import brand_throttle
from partnerships.models import INVITATION_MESSAGE_MAX, Campaign, Category, Invitation, Partner

INVITATION_MESSAGE_TOO_LONG = "Message: at most {limit} characters. Nobody was invited."
SORTABLE = [("followers", "Followers"), ("avg_views", "Average views"), ("engagement_rate", "Engagement rate")]


class BrandLoginView(auth_views.LoginView):
    template_name = "brands/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("brands:creators")


def _brands(request):
    brands = user_brands(request.user)
    if not brands.exists():
        raise Http404("You are not a member of any brand.")
    return brands


def creator_cards(rows: list[dict], categories: list[Category]) -> list[dict]:
    """creator_page rows as the search page shows them: kind and category names instead of codes and slugs."""
    kinds = dict(Partner.Kind.choices)
    names = {category.slug: category.name for category in categories}
    return [{**row, "kind_label": kinds.get(row["kind"], row["kind"]),
             "category_names": [names.get(slug, slug) for slug in row["category_slugs"]]} for row in rows]


@login_required
@brand_throttle
def creator_search(request):
    brands = _brands(request)
    form = params.CreatorSearchForm(request.GET)
    page, next_url, previous_url = [], None, None
    categories = list(Category.objects.all())  # the filter's choices and the names of each row's categories
    ordering = request.GET.get("ordering") or search.DEFAULT_ORDERING
    # A refused filter is shown on its field, a refused cursor or page size above the results, with a 400 as the API
    # answers them; neither reads as "no creator matches".
    status, count, search_errors = 200, None, []
    if not form.is_valid():
        status = 400
    else:
        ordering = form.search_ordering()
        try:
            found, count = search_cache.cached_search(form.creator_query(), ordering,
                                                      cursor=request.GET.get(search.CURSOR),
                                                      size=params.page_size(request.GET), count=True)
        except search.InvalidSearch as exc:
            search_errors = [str(message) for messages_ in exc.errors.values() for message in messages_]
            status = 400
        else:
            page = creator_cards(found.rows, categories)
            url = request.build_absolute_uri()
            next_url = params.with_parameter(url, search.CURSOR, found.next_cursor)
            previous_url = params.with_parameter(url, search.CURSOR, found.previous_cursor)
    query = request.GET.copy()
    query.pop("cursor", None)
    sort_links = []
    for key, label in SORTABLE:
        descending = ordering == f"-{key}"
        query["ordering"] = key if descending else f"-{key}"
        sort_links.append({"label": label, "url": "?" + query.urlencode(),
                           "aria": ("descending" if descending else "ascending" if ordering == key else "none")})
    return render(request, "brands/creators.html", {
        "form": form, "creators": page, "next_url": next_url, "previous_url": previous_url,
        "sort_links": sort_links, "count": count, "search_errors": search_errors, "searched": status == 200,
        "brands": brands, "categories": categories, "kinds": Partner.Kind.choices,
        "selected_categories": request.GET.getlist("category"), "countries": ", ".join(request.GET.getlist("country")),
        # Creators are shortlisted for draft or open campaigns (the service refuses closed ones).
        "campaigns": selectors.brand_campaigns(brands).exclude(status=Campaign.Status.CLOSED).order_by("name"),
    }, status=status)


@login_required
@brand_throttle
def creator_similar(request, handle: str):
    """Lookalikes of a creator found in the search (the API's /creators/<handle>/similar/, as a page)."""
    _brands(request)
    try:
        partner = services.partner_by_handle(handle)
    except services.NotFound as exc:
        raise Http404(str(exc)) from exc
    categories = list(Category.objects.all())
    rows = [{"handle": p.handle, "display_name": p.display_name, "kind": p.kind, "country": p.country,
             "category_slugs": sorted(c.slug for c in p.categories.all()), "followers": p.statistics.followers,
             "avg_views": p.statistics.avg_views_per_post, "engagement": p.statistics.engagement_rate,
             "posts_30d": p.statistics.posts_30d, "shared_categories": p.shared_categories}  # type: ignore[attr-defined]
            for p in matching.similar_creators(partner).select_related("statistics").prefetch_related("categories")]
    return render(request, "brands/similar.html", {"partner": partner, "creators": creator_cards(rows, categories)})


@login_required
@brand_throttle
def campaign_list(request):
    brands = _brands(request)
    form = CampaignForm(request.POST or None, brands=brands)
    if request.method == "POST" and form.is_valid():
        values = {key: form.cleaned_data[key] for key in services.CAMPAIGN_FIELDS if key in form.cleaned_data}
        values["budget_minor"] = form.cleaned_data["budget_minor"]
        try:
            campaign = services.campaign_create(user=request.user, brand_id=form.cleaned_data["brand"].pk,
                                                      categories=list(form.cleaned_data["categories"]), **values)
        except MarketplaceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Campaign “{campaign.name}” created.")
            return HttpResponseRedirect(reverse("brands:campaign", args=[campaign.pk]))
    campaigns = selectors.brand_campaigns(brands).order_by("-created_at")
    return render(request, "brands/campaigns.html", {
        "campaigns": [{"campaign": c, "budget": format_money(c.budget_minor, c.currency)} for c in campaigns],
        "form": form}, status=400 if form.is_bound else 200)


def _campaign(request, campaign_id: int) -> Campaign:
    campaign = selectors.brand_campaigns(_brands(request)).filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404(services.CAMPAIGN_NOT_FOUND)
    return campaign


@login_required
@brand_throttle
def campaign_detail(request, campaign_id: int):
    return _campaign_page(request, _campaign(request, campaign_id))


@login_required
@brand_throttle
@require_POST
def campaign_close(request, campaign_id: int):
    """Close (archive) a campaign: the pages never delete one, so its invitations stay on record."""
    campaign = _campaign(request, campaign_id)
    try:
        services.campaign_archive(user=request.user, campaign_id=campaign.pk)
    except MarketplaceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"“{campaign.name}” is closed; it and its invitations stay on record.")
    return HttpResponseRedirect(reverse("brands:campaign", args=[campaign.pk]))


def _campaign_page(request, campaign: Campaign, *, invite: dict | None = None, status: int = 200):
    """The campaign with its matches, shortlist and invitations. `invite` re-shows a refused invitation: the fee as
    typed, the error beside the field it was typed in, and the creators that were ticked."""
    invitations = (selectors.brand_invitations(_brands(request)).filter(campaign=campaign)
                   .order_by("-invited_at"))
    shortlist = list(selectors.campaign_shortlist(campaign))
    shortlisted = {entry.partner.handle for entry in shortlist}
    invite = invite or {}
    matches = [{"partner": p, "score": round(p.score, 1), "breakdown": matching.match_breakdown(p, campaign),
                "shortlisted": p.handle in shortlisted, "picked": p.handle in invite.get("handles", ())}
               for p in matching.campaign_matches(campaign, limit=30)]
    return render(request, "brands/campaign.html", {
        "campaign": campaign, "budget": format_money(campaign.budget_minor, campaign.currency), "matches": matches,
        "shortlist": shortlist, "invite": invite,
        "invitations": [{"invitation": i, "fee": format_money(i.offered_fee_minor, i.currency)} for i in invitations],
    }, status=status)


def _shortlist(request, campaign: Campaign, handles: list[str]) -> None:
    """Add each ticked creator to the campaign's shortlist, reporting each one."""
    if not handles:
        messages.error(request, "Tick at least one creator to add to the shortlist.")
        return
    note = request.POST.get("note", "").strip()
    for handle in handles:
        try:
            _entry, created = services.shortlist_add(user=request.user, campaign_id=campaign.pk,
                                                           partner_handle=handle, note=note)
        except MarketplaceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"@{handle} added to the shortlist of “{campaign.name}”." if created
                             else f"@{handle} was already on the shortlist of “{campaign.name}”.")


@login_required
@brand_throttle
@require_POST
def shortlist_add(request, campaign_id: int):
    """The matches form's "Add to shortlist" button: the ticked creators go on this campaign's shortlist."""
    campaign = _campaign(request, campaign_id)
    _shortlist(request, campaign, request.POST.getlist("handle"))
    return HttpResponseRedirect(reverse("brands:campaign", args=[campaign.pk]))


@login_required
@brand_throttle
@require_POST
def creators_shortlist(request):
    """The search page's "Add to shortlist": the ticked creators go on the chosen campaign's shortlist, and the
    brand stays on its search."""
    search = reverse("brands:creators")
    back = request.POST.get("next", "")
    if not (back.startswith(search) and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                                          require_https=request.is_secure())):
        back = search
    try:
        campaign_id = int(request.POST.get("campaign", ""))
    except ValueError:
        messages.error(request, "Choose the campaign whose shortlist the creators go on.")
        return HttpResponseRedirect(back)
    campaign = _campaign(request, campaign_id)
    _shortlist(request, campaign, request.POST.getlist("handle"))
    return HttpResponseRedirect(back)


@login_required
@brand_throttle
@require_POST
def shortlist_remove(request, campaign_id: int, handle: str):
    campaign = _campaign(request, campaign_id)
    try:
        services.shortlist_remove(user=request.user, campaign_id=campaign.pk, partner_handle=handle)
    except MarketplaceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"@{handle} removed from the shortlist.")
    return HttpResponseRedirect(reverse("brands:campaign", args=[campaign.pk]))


@login_required
@brand_throttle
@require_POST
def campaign_invite(request, campaign_id: int):
    """Invite the ticked creators (from the matches, or one from the shortlist), each with the same fee and
    message; an invited creator leaves the shortlist."""
    campaign = _campaign(request, campaign_id)
    back = reverse("brands:campaign", args=[campaign.pk])
    handles = request.POST.getlist("handle")
    if not handles:
        messages.error(request, "Tick at least one creator to invite.")
        return HttpResponseRedirect(back)
    form = InvitationFeeForm(request.POST, currency=campaign.currency)
    if "message" in form.errors:  # not shown again: it may be megabytes
        messages.error(request, INVITATION_MESSAGE_TOO_LONG.format(limit=INVITATION_MESSAGE_MAX))
        return HttpResponseRedirect(back)
    if not form.is_valid():
        # Shown again with the error on the fee field, as typed, rather than redirected away from it.
        return _campaign_page(request, campaign, status=400, invite={
            "handles": handles, "fee": request.POST.get("fee", ""),
            "error": " ".join(str(error) for error in form.errors["fee"]),  # ErrorList yields the messages
            "from": request.POST.get("from", "matches"), "message": request.POST.get("message", "")})
    fee = form.cleaned_data["fee"]
    for handle in handles:
        try:
            services.invitation_create(user=request.user, campaign_id=campaign.pk, partner_handle=handle,
                                             offered_fee_minor=fee, currency=campaign.currency,
                                             message=form.cleaned_data["message"])
        except MarketplaceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"@{handle} invited.")
    return HttpResponseRedirect(back)


@login_required
@brand_throttle
@require_POST
def invitation_withdraw(request, invitation_id: int):
    invitation = Invitation.objects.filter(pk=invitation_id).only("campaign_id").first()
    if invitation is None:  # what the service would answer: no such invitation is anybody's
        raise Http404(services.INVITATION_NOT_FOUND)
    try:
        services.invitation_withdraw(user=request.user, invitation_id=invitation_id)
    except services.NotFound as exc:
        raise Http404(str(exc)) from exc
    except MarketplaceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Invitation withdrawn.")
    return HttpResponseRedirect(reverse("brands:campaign", args=[invitation.campaign_id]))
