"""The brand API: creator search, matches, lookalikes, campaigns with their shortlists and invitations, scoped
to the caller's brands. Another brand's objects are "not found" whichever way they are asked for."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from core.validators import HANDLE_REGEX
from partnerships.marketplace import matching, params, search, selectors, services
from partnerships.marketplace.api.filters import (
    CREATOR_SEARCH_PARAMETERS,
    InvitationFilterSet,
    refuse_unknown_parameters,
)
from partnerships.marketplace.api.pagination import CreatorKeysetPagination
from partnerships.marketplace.api.serializers import (
    MARKETPLACE_RULES,
    CampaignSerializer,
    CreatorSerializer,
    ErrorSerializer,
    InvitationSerializer,
    MatchSerializer,
    ShortlistAddSerializer,
    ShortlistEntrySerializer,
    SimilarCreatorSerializer,
)
from partnerships.marketplace.api.throttles import BrandRateThrottle
from partnerships.marketplace.rules import user_brands
from partnerships.marketplace.services import MarketplaceError
from partnerships.models import ApiToken, Campaign, Invitation, Partner

HANDLE_PATTERN = HANDLE_REGEX


class IsBrandUser(permissions.BasePermission):
    message = "This API is for members of a brand."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if isinstance(request.auth, ApiToken):
            return True  # authentication already checked the token's brand is active and the user a member
        return view.brands().exists()


class BrandAPIView:
    # Declared exactly as APIView declares them (an attribute is invariant), so the views mixing this in agree.
    permission_classes: Sequence[
        type[permissions.BasePermission] | permissions.OperandHolder | permissions.SingleOperandHolder
    ] = [permissions.IsAuthenticated, IsBrandUser]
    throttle_classes: Sequence[type[BaseThrottle]] = [BrandRateThrottle]

    def token(self):
        return self.request.auth if isinstance(self.request.auth, ApiToken) else None

    def brands(self):
        """The brands this request may act for (the token's, or the signed-in user's); built when first asked."""
        if not hasattr(self, "_brands"):
            self._brands = user_brands(self.request.user, self.request.auth)
        return self._brands


class NewestFirstPagination(CursorPagination):
    page_size = 50
    ordering = ("-pk",)


@extend_schema(description="Search the creators available for brand deals. " + MARKETPLACE_RULES,
               parameters=CREATOR_SEARCH_PARAMETERS,
               responses={200: CreatorSerializer(many=True), 400: OpenApiTypes.OBJECT})
class CreatorSearchView(BrandAPIView, generics.ListAPIView):
    serializer_class = CreatorSerializer
    pagination_class = CreatorKeysetPagination
    filter_backends: list = []  # params validates the search and search.creator_page filters it

    def get_queryset(self):
        return Partner.objects.none()  # for the schema only: list reads pages of rows (creator_page)

    def list(self, request, *args, **kwargs):
        refuse_unknown_parameters(request, params.SEARCH_PARAMETERS)
        try:
            query, ordering = params.search_from_parameters(request.query_params)
            page = self.paginator.paginate_creators(request, query, ordering)
        except search.InvalidSearch as exc:
            raise ValidationError(exc.errors) from exc
        return self.get_paginated_response(search.creator_rows(page))


@extend_schema(responses={200: SimilarCreatorSerializer(many=True), 404: ErrorSerializer},
               description="Up to 20 lookalikes of a creator: shared categories, same country, close follower count.")
class SimilarCreatorsView(BrandAPIView, generics.GenericAPIView):
    serializer_class = SimilarCreatorSerializer
    pagination_class = None
    lookup_field = "handle"

    def get(self, request, handle: str):
        refuse_unknown_parameters(request, set())
        try:
            partner = services.partner_by_handle(handle)
        except services.NotFound as exc:
            raise NotFound(str(exc)) from exc
        return Response(self.get_serializer(matching.similar_creators(partner), many=True).data)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


@extend_schema_view(
    list=extend_schema(description="Your brands' campaigns."),
    create=extend_schema(responses={201: CampaignSerializer, 400: OpenApiTypes.OBJECT}),
    destroy=extend_schema(responses={204: None, 404: ErrorSerializer, 409: ErrorSerializer},
                          description="Delete a campaign nobody answered. A campaign with an accepted or answered "
                                      "invitation is kept (409): close it with `archive` instead."),
)
class CampaignViewSet(BrandAPIView, viewsets.ModelViewSet):
    serializer_class = CampaignSerializer
    pagination_class = NewestFirstPagination
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Campaign.objects.none()
        refuse_unknown_parameters(self.request, {"cursor"} if self.action == "list" else set())
        return selectors.brand_campaigns(self.brands())

    def get_serializer(self, *args, **kwargs):
        if not getattr(self, "swagger_fake_view", False) and self.request.user.is_authenticated:
            kwargs["brands"] = self.brands()
        return super().get_serializer(*args, **kwargs)

    def _values(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("brand", None)
        categories = data.pop("categories", None)
        return data, categories

    def perform_create(self, serializer):
        values, categories = self._values(serializer)
        try:
            serializer.instance = services.campaign_create(
                user=self.request.user, brand_id=serializer.validated_data["brand"].pk, categories=categories,
                token=self.token(), **values)
        except MarketplaceError as exc:
            raise ValidationError({"detail": str(exc)}) from exc

    def perform_update(self, serializer):
        values, categories = self._values(serializer)
        try:
            serializer.instance = services.campaign_update(
                user=self.request.user, campaign_id=serializer.instance.pk, categories=categories,
                token=self.token(), **values)
        except MarketplaceError as exc:
            raise ValidationError({"detail": str(exc)}) from exc

    def perform_destroy(self, instance):
        try:
            services.campaign_delete(user=self.request.user, campaign_id=instance.pk, token=self.token())
        except services.CampaignHasHistory as exc:
            raise Conflict(str(exc)) from exc

    @extend_schema(request=None, responses={200: CampaignSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
                   description="Close the campaign for good: no more invitations or shortlisting; it and its "
                               "invitations stay on record.")
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def archive(self, request, pk=None):
        campaign = self.get_object()
        try:
            campaign = services.campaign_archive(user=request.user, campaign_id=campaign.pk, token=self.token())
        except MarketplaceError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(self.get_serializer(campaign).data)

    @extend_schema(responses={200: MatchSerializer(many=True), 404: ErrorSerializer},
                   description="Creators ranked by match score for this campaign, with the reasons for each score; "
                               "creators already invited are left out.")
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def matches(self, request, pk=None):
        campaign = self.get_object()
        matches = matching.campaign_matches(campaign)
        data = [{"creator": partner, "score": round(partner.score, 2),
                 "breakdown": matching.match_breakdown(partner, campaign)} for partner in matches]
        return Response(MatchSerializer(data, many=True).data)

    @extend_schema(methods=["GET"], responses={200: ShortlistEntrySerializer(many=True), 404: ErrorSerializer},
                   description="The creators kept in mind for this campaign, oldest first. Inviting one moves them "
                               "from the shortlist to the invitations.")
    @extend_schema(methods=["POST"], request=ShortlistAddSerializer,
                   responses={201: ShortlistEntrySerializer, 200: ShortlistEntrySerializer, 400: OpenApiTypes.OBJECT,
                              404: ErrorSerializer},
                   description="Add a creator to the shortlist (the same marketplace rules as invitations; draft or "
                               "open campaigns). Idempotent: 201 when added, 200 with the existing entry when the "
                               "creator is already shortlisted.")
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def shortlist(self, request, pk=None):
        campaign = self.get_object()
        if request.method == "GET":
            entries = selectors.campaign_shortlist(campaign)
            return Response(ShortlistEntrySerializer(entries, many=True).data)
        serializer = ShortlistAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            entry, created = services.shortlist_add(
                user=request.user, campaign_id=campaign.pk, partner_handle=serializer.validated_data["handle"],
                note=serializer.validated_data["note"], token=self.token())
        except MarketplaceError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        entry = selectors.campaign_shortlist(campaign).get(pk=entry.pk)
        return Response(ShortlistEntrySerializer(entry).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(parameters=[OpenApiParameter("handle", str, OpenApiParameter.PATH, pattern=HANDLE_PATTERN,
                                                description="The shortlisted creator's handle.")],
                   request=None, responses={204: None, 404: ErrorSerializer},
                   description="Take a creator off the shortlist.")
    @action(detail=True, methods=["delete"], url_path=r"shortlist/(?P<handle>[^/]+)", url_name="shortlist-remove",
            pagination_class=None, filter_backends=[])
    def shortlist_remove(self, request, pk=None, handle=None):
        campaign = self.get_object()
        try:
            services.shortlist_remove(user=request.user, campaign_id=campaign.pk, partner_handle=handle,
                                            token=self.token())
        except services.NotFound as exc:
            raise NotFound(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(BrandAPIView, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        viewsets.GenericViewSet):
    serializer_class = InvitationSerializer
    pagination_class = NewestFirstPagination
    lookup_value_regex = r"\d+"
    filter_backends = [DjangoFilterBackend]
    filterset_class = InvitationFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        allowed = {"campaign", "status", "cursor"} if self.action == "list" else set()
        refuse_unknown_parameters(self.request, allowed)
        self.request.brand_campaigns = selectors.brand_campaigns(self.brands())
        return selectors.brand_invitations(self.brands())

    def get_serializer(self, *args, **kwargs):
        if not getattr(self, "swagger_fake_view", False) and self.request.user.is_authenticated:
            kwargs["campaigns"] = selectors.brand_campaigns(self.brands())
        return super().get_serializer(*args, **kwargs)

    @extend_schema(responses={201: InvitationSerializer, 400: OpenApiTypes.OBJECT})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            invitation = services.invitation_create(
                user=request.user, campaign_id=data["campaign"].pk, partner_handle=data["partner_handle"],
                offered_fee_minor=data["offered_fee_minor"], currency=data["currency"],
                message=data.get("message", ""), token=self.token())
        except MarketplaceError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(self.get_serializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: InvitationSerializer, 400: OpenApiTypes.OBJECT,
                                            404: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        try:
            invitation = services.invitation_withdraw(user=request.user, invitation_id=int(pk),
                                                            token=self.token())
        except services.NotFound as exc:
            raise Http404(str(exc)) from exc
        except (MarketplaceError, ValueError) as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(self.get_serializer(invitation).data)
