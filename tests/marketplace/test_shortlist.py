"""A campaign's shortlist: creators a brand keeps in mind before inviting them, through the API, the pages
and the admin — the marketplace rule, idempotence, the move to the invitations, and tenant isolation."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from partnerships.marketplace import services
from partnerships.marketplace.services import (
    CREATOR_NOT_SHORTLISTABLE,
    SHORTLIST_ALREADY_INVITED,
    SHORTLIST_ENTRY_NOT_FOUND,
    MarketplaceError,
    NotFound,
)
from partnerships.models import Campaign, Invitation, Partner, ShortlistEntry
from tests.marketplace.test_tenant_isolation import PRIVATE

pytestmark = pytest.mark.django_db


def shortlist_url(campaign, handle=None):
    return f"/api/v1/campaigns/{campaign.pk}/shortlist/" + (f"{handle}/" if handle else "")


def add(client, campaign, handle="ben", **payload):
    return client.post(shortlist_url(campaign), {"handle": handle, **payload}, format="json")


def shortlisted(campaign) -> list[str]:
    return list(ShortlistEntry.objects.filter(campaign=campaign).order_by("pk").values_list("partner__handle",
                                                                                            flat=True))


@pytest.fixture
def page_a(client, user_a):
    client.force_login(user_a)
    return client


@pytest.fixture
def entry_b(user_b, campaign_b, creators):
    entry, _ = services.shortlist_add(user=user_b, campaign_id=campaign_b.pk, partner_handle="cleo",
                                            note="Nova only")
    return entry


# --- API ------------------------------------------------------------------------------------------

def test_add_list_and_remove_through_the_api(api_a, campaign_a, creators, user_a):
    created = add(api_a, campaign_a, "ben", note="Great gaming reach")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["creator"]["handle"], body["creator"]["followers"], body["note"], body["added_by"]) == (
        "ben", 120_000, "Great gaming reach", "alice")
    entry = ShortlistEntry.objects.get()
    assert (entry.campaign, entry.partner.handle, entry.added_by) == (campaign_a, "ben", user_a)
    assert add(api_a, campaign_a, "cleo").status_code == 201

    listed = api_a.get(shortlist_url(campaign_a))
    assert listed.status_code == 200
    assert [row["creator"]["handle"] for row in listed.json()] == ["ben", "cleo"]
    assert listed.json()[0]["creator"]["categories"] == ["comedy", "gaming"]

    assert api_a.delete(shortlist_url(campaign_a, "ben")).status_code == 204
    assert shortlisted(campaign_a) == ["cleo"]
    again = api_a.delete(shortlist_url(campaign_a, "ben"))
    assert again.status_code == 404
    assert again.json()["detail"] == SHORTLIST_ENTRY_NOT_FOUND.format(handle="ben", campaign="Acme summer")
    assert Invitation.objects.count() == 0  # shortlisting invites nobody


def test_adding_twice_returns_the_existing_entry_without_a_duplicate(api_a, campaign_a, creators):
    first = add(api_a, campaign_a, "ben", note="first")
    second = add(api_a, campaign_a, "ben", note="second")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["note"] == "first"
    assert ShortlistEntry.objects.count() == 1


def test_the_service_is_idempotent(user_a, campaign_a, creators):
    entry, created = services.shortlist_add(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben")
    again, created_again = services.shortlist_add(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben")
    assert (created, created_again, again.pk) == (True, False, entry.pk)
    assert ShortlistEntry.objects.count() == 1


@pytest.mark.parametrize("handle", ["optedout", "suspended", "minor", "small", "nobody"])
def test_a_creator_not_in_the_marketplace_is_refused_and_nothing_is_saved(api_a, campaign_a, creators, hidden,
                                                                          handle):
    response = add(api_a, campaign_a, handle)
    assert response.status_code == 400
    assert response.json()["detail"] == f"@{handle} cannot be shortlisted: they are not available for brand deals."
    assert response.json()["detail"] == CREATOR_NOT_SHORTLISTABLE.format(handle=handle)
    assert ShortlistEntry.objects.count() == 0


def test_a_closed_campaign_is_refused_and_a_draft_one_accepted(api_a, campaign_a, creators):
    Campaign.objects.filter(pk=campaign_a.pk).update(status=Campaign.Status.CLOSED)
    refused = add(api_a, campaign_a)
    assert refused.status_code == 400
    assert refused.json()["detail"] == ("“Acme summer” is closed: creators are shortlisted for draft or open "
                                        "campaigns only.")
    assert ShortlistEntry.objects.count() == 0
    Campaign.objects.filter(pk=campaign_a.pk).update(status=Campaign.Status.DRAFT)
    assert add(api_a, campaign_a).status_code == 201  # a shortlist is prepared before the campaign opens


def test_an_invited_creator_is_not_shortlisted_again(api_a, user_a, campaign_a, creators):
    services.invitation_create(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben",
                                     offered_fee_minor=1, currency="USD")
    response = add(api_a, campaign_a, "ben")
    assert response.status_code == 400
    assert response.json()["detail"] == SHORTLIST_ALREADY_INVITED.format(handle="ben", campaign="Acme summer")
    assert ShortlistEntry.objects.count() == 0


def test_inviting_a_shortlisted_creator_moves_them_to_the_invitations(api_a, campaign_a, creators):
    add(api_a, campaign_a, "ben")
    add(api_a, campaign_a, "cleo")
    response = api_a.post("/api/v1/invitations/", {"campaign": campaign_a.pk, "partner_handle": "ben",
                                                   "offered_fee_minor": 50_000, "currency": "USD"}, format="json")
    assert response.status_code == 201
    assert shortlisted(campaign_a) == ["cleo"]
    assert list(Invitation.objects.values_list("partner__handle", flat=True)) == ["ben"]


def test_a_refused_invitation_leaves_the_shortlist_as_it_was(user_a, campaign_a, creators):
    services.shortlist_add(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben")
    with pytest.raises(MarketplaceError):
        services.invitation_create(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben",
                                         offered_fee_minor=1, currency="EUR")
    assert shortlisted(campaign_a) == ["ben"]
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(("payload", "field"), [
    ({"handle": "Not A Handle"}, "handle"),
    ({"handle": "ben", "note": "x" * 201}, "note"),
    ({}, "handle"),
])
def test_malformed_input_is_a_400_naming_the_field(api_a, campaign_a, creators, payload, field):
    response = api_a.post(shortlist_url(campaign_a), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert ShortlistEntry.objects.count() == 0


def test_unknown_query_parameters_are_refused(api_a, campaign_a, creators):
    add(api_a, campaign_a, "ben")
    for method, path in [("get", shortlist_url(campaign_a)), ("post", shortlist_url(campaign_a)),
                         ("delete", shortlist_url(campaign_a, "ben"))]:
        response = getattr(api_a, method)(path + "?page=2", {"handle": "cleo"} if method == "post" else None,
                                          format="json")
        assert response.status_code == 400, (method, path)
        assert "page" in response.json()
    assert shortlisted(campaign_a) == ["ben"]


def test_a_token_acts_on_its_brand_shortlist(token_client_a, campaign_a, creators):
    assert add(token_client_a, campaign_a, "ben").status_code == 201
    assert [row["creator"]["handle"] for row in token_client_a.get(shortlist_url(campaign_a)).json()] == ["ben"]


def test_a_creator_who_left_the_marketplace_is_no_longer_listed(api_a, campaign_a, creators):
    add(api_a, campaign_a, "ben")
    add(api_a, campaign_a, "cleo")
    Partner.objects.filter(handle="ben").update(opted_into_brand_deals=False)
    assert [row["creator"]["handle"] for row in api_a.get(shortlist_url(campaign_a)).json()] == ["cleo"]
    assert api_a.delete(shortlist_url(campaign_a, "ben")).status_code == 204  # the brand may still tidy up


def test_listing_reads_a_fixed_number_of_queries(api_a, campaign_a, creators):
    add(api_a, campaign_a, "ana")
    with CaptureQueriesContext(connection) as one:
        api_a.get(shortlist_url(campaign_a))
    for handle in ("ben", "cleo", "dan.media"):
        add(api_a, campaign_a, handle)
    with CaptureQueriesContext(connection) as four:
        assert len(api_a.get(shortlist_url(campaign_a)).json()) == 4
    assert len(four) == len(one)


def test_responses_carry_no_private_partner_field(api_a, campaign_a, creators):
    Partner.objects.filter(handle="ben").update(tax_form_on_file=True, identity_verified=True)
    bodies = [add(api_a, campaign_a, "ben").content.decode(), add(api_a, campaign_a, "ben").content.decode(),
              api_a.get(shortlist_url(campaign_a)).content.decode()]
    for text in bodies:
        for field in PRIVATE:
            assert field not in text
    creator = api_a.get(shortlist_url(campaign_a)).json()[0]["creator"]
    assert set(creator) == {"handle", "display_name", "kind", "country", "categories", "followers", "avg_views",
                            "engagement_rate", "posts_30d"}


# --- tenant isolation -----------------------------------------------------------------------------

def test_brand_b_shortlist_is_not_found_for_a_through_the_api(api_a, campaign_b, entry_b):
    assert api_a.get(shortlist_url(campaign_b)).status_code == 404
    assert add(api_a, campaign_b, "ben").status_code == 404
    assert api_a.delete(shortlist_url(campaign_b, "cleo")).status_code == 404
    assert shortlisted(campaign_b) == ["cleo"]


def test_a_cannot_add_to_brand_b_campaign_by_id(user_a, campaign_b, creators):
    with pytest.raises(NotFound):
        services.shortlist_add(user=user_a, campaign_id=campaign_b.pk, partner_handle="ben")
    with pytest.raises(NotFound):
        services.shortlist_remove(user=user_a, campaign_id=campaign_b.pk, partner_handle="ben")
    assert not ShortlistEntry.objects.filter(campaign=campaign_b).exists()


def test_brand_b_shortlist_is_not_found_for_a_through_the_pages(page_a, campaign_b, entry_b):
    assert page_a.get(reverse("brands:campaign", args=[campaign_b.pk])).status_code == 404
    assert page_a.post(reverse("brands:shortlist_add", args=[campaign_b.pk]), {"handle": "ben"}).status_code == 404
    assert page_a.post(reverse("brands:shortlist_remove", args=[campaign_b.pk, "cleo"])).status_code == 404
    assert page_a.post(reverse("brands:creators_shortlist"),
                       {"campaign": campaign_b.pk, "handle": "ben"}).status_code == 404
    assert page_a.post(reverse("brands:invite", args=[campaign_b.pk]), {"handle": "cleo", "fee": "1"}).status_code \
        == 404
    assert shortlisted(campaign_b) == ["cleo"]
    assert not Invitation.objects.exists()


def test_the_creator_search_offers_only_the_users_own_campaigns(page_a, campaign_a, campaign_b, creators):
    html = page_a.get(reverse("brands:creators")).content.decode()
    assert "Acme summer" in html
    assert "Nova secret launch" not in html


# --- pages ----------------------------------------------------------------------------------------

def test_add_from_the_matches_then_see_and_remove_on_the_campaign_page(page_a, campaign_a, creators):
    detail = reverse("brands:campaign", args=[campaign_a.pk])
    response = page_a.post(reverse("brands:shortlist_add", args=[campaign_a.pk]),
                           {"handle": ["ana", "ben"], "note": "Summer fit", "fee": ""}, follow=True)
    assert response.redirect_chain == [(detail, 302)]
    html = response.content.decode()
    assert "@ana added to the shortlist of “Acme summer”." in html
    assert shortlisted(campaign_a) == ["ana", "ben"]
    assert html.count("Summer fit") == 2
    assert "alice" in html
    assert html.count(">Remove</button>") == 2
    assert "on the shortlist" in html  # marked among the matches
    assert Invitation.objects.count() == 0

    again = page_a.post(reverse("brands:shortlist_add", args=[campaign_a.pk]), {"handle": "ana"}, follow=True)
    assert "@ana was already on the shortlist of “Acme summer”." in again.content.decode()
    assert shortlisted(campaign_a) == ["ana", "ben"]

    removed = page_a.post(reverse("brands:shortlist_remove", args=[campaign_a.pk, "ana"]), follow=True)
    assert "@ana removed from the shortlist." in removed.content.decode()
    assert shortlisted(campaign_a) == ["ben"]


def test_the_pages_report_refusals(page_a, campaign_a, creators, hidden):
    response = page_a.post(reverse("brands:shortlist_add", args=[campaign_a.pk]), {"handle": ["optedout", "ben"]},
                           follow=True)
    html = response.content.decode()
    assert "@optedout cannot be shortlisted: they are not available for brand deals." in html
    assert "@ben added to the shortlist" in html
    assert shortlisted(campaign_a) == ["ben"]
    nothing = page_a.post(reverse("brands:shortlist_add", args=[campaign_a.pk]), follow=True)
    assert "Tick at least one creator to add to the shortlist." in nothing.content.decode()
    gone = page_a.post(reverse("brands:shortlist_remove", args=[campaign_a.pk, "cleo"]), follow=True)
    assert "@cleo is not on the shortlist of “Acme summer”." in gone.content.decode()


def test_add_from_the_creator_search_and_stay_on_the_search(page_a, campaign_a, creators):
    search = reverse("brands:creators") + "?country=US&ordering=followers"
    html = page_a.get(search).content.decode()
    assert 'name="handle" value="cleo"' in html
    assert ">Add to shortlist<" in html
    response = page_a.post(reverse("brands:creators_shortlist"),
                           {"campaign": campaign_a.pk, "handle": ["cleo"], "note": "Big reach", "next": search})
    assert response.status_code == 302
    assert response.url == search
    entry = ShortlistEntry.objects.get()
    assert (entry.campaign, entry.partner.handle, entry.note) == (campaign_a, "cleo", "Big reach")


def test_the_creator_search_never_redirects_elsewhere(page_a, campaign_a, creators):
    for unsafe in ("https://evil.example/", "//evil.example/brands/creators/", "/admin/"):
        response = page_a.post(reverse("brands:creators_shortlist"),
                               {"campaign": campaign_a.pk, "handle": "ben", "next": unsafe})
        assert response.url == reverse("brands:creators")
    missing = page_a.post(reverse("brands:creators_shortlist"), {"handle": "ben"}, follow=True)
    assert "Choose the campaign whose shortlist the creators go on." in missing.content.decode()


def test_invite_from_the_shortlist_moves_the_creator(page_a, user_a, campaign_a, creators):
    services.shortlist_add(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben")
    services.shortlist_add(user=user_a, campaign_id=campaign_a.pk, partner_handle="cleo")
    html = page_a.get(reverse("brands:campaign", args=[campaign_a.pk])).content.decode()
    assert 'for="fee-ben"' in html
    page_a.post(reverse("brands:invite", args=[campaign_a.pk]), {"handle": "ben", "fee": "250.00"})
    assert shortlisted(campaign_a) == ["cleo"]
    assert list(Invitation.objects.values_list("partner__handle", "offered_fee_minor")) == [("ben", 25_000)]


def test_the_campaign_page_shows_no_private_field(page_a, user_a, campaign_a, creators):
    services.shortlist_add(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben", note="ok")
    html = page_a.get(reverse("brands:campaign", args=[campaign_a.pk])).content.decode()
    assert "@ben" in html
    for private in ("date_of_birth", "tax", "identity", "1994", "1995", "1996"):
        assert private not in html


# --- admin ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["superuser", "manager"])
def test_the_campaign_admin_shows_the_shortlist(client, request, who, user_a, campaign_a, creators):
    from partnerships.roles import ensure_groups
    ensure_groups()
    services.shortlist_add(user=user_a, campaign_id=campaign_a.pk, partner_handle="ben", note="Admin sees")
    client.force_login(request.getfixturevalue(who))
    html = client.get(reverse("admin:partnerships_campaign_change", args=[campaign_a.pk])).content.decode()
    assert "Admin sees" in html
    assert "alice" in html


def test_staff_add_a_marketplace_creator_in_the_admin_and_are_recorded(client, superuser, campaign_a, creators,
                                                                       hidden):
    Campaign.objects.filter(pk=campaign_a.pk).update(created_by=superuser)
    client.force_login(superuser)
    url = reverse("admin:partnerships_campaign_change", args=[campaign_a.pk])
    form = client.get(url).context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None}
    data.update({"categories": [c.pk for c in campaign_a.categories.all()], "target_countries": '["US"]',
                 "starts_on": str(campaign_a.starts_on), "ends_on": str(campaign_a.ends_on),
                 "followers_max": 500_000, "shortlist-TOTAL_FORMS": 1, "shortlist-INITIAL_FORMS": 0,
                 "shortlist-MIN_NUM_FORMS": 0, "shortlist-MAX_NUM_FORMS": 1000,
                 "shortlist-0-partner": hidden["optedout"].pk, "shortlist-0-note": "by staff"})
    refused = client.post(url, data)
    assert refused.status_code == 200
    assert "@optedout cannot be shortlisted" in refused.content.decode()
    assert ShortlistEntry.objects.count() == 0

    data["shortlist-0-partner"] = creators["ben"].pk
    saved = client.post(url, data)
    assert saved.status_code == 302, (saved.context["adminform"].form.errors,
                                      [f.errors for f in saved.context["inline_admin_formsets"][0].formset])
    entry = ShortlistEntry.objects.get()
    assert (entry.partner.handle, entry.note, entry.added_by) == ("ben", "by staff", superuser)
