"""Bodies past Django's upload limits get a JSON answer from the API naming the limit, never an HTML page, and
nothing is written."""

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings

from partnerships.marketplace.api.errors import BODY_TOO_LARGE, TOO_MANY_FIELDS
from partnerships.models import Invitation

pytestmark = pytest.mark.django_db


def test_a_json_body_past_the_size_limit_is_a_json_413_and_nothing_is_written(api_a, campaign_a, creators):
    body = json.dumps({"campaign": campaign_a.pk, "partner_handle": "ben", "offered_fee_minor": 1,
                       "currency": "USD", "message": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})

    response = api_a.post("/api/v1/invitations/", body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": BODY_TOO_LARGE.format(length=len(body),
                                                               limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_form_body_past_the_size_limit_is_a_json_413(api_a, campaign_a, creators, settings, content_type):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    data = {"campaign": campaign_a.pk, "partner_handle": "ben", "offered_fee_minor": 1, "currency": "USD",
            "message": "x" * 2_000}
    if content_type.startswith("multipart"):
        response = api_a.post("/api/v1/invitations/", data, format="multipart")
    else:
        response = api_a.post("/api/v1/invitations/", urlencode(data), content_type=content_type)
    assert response.status_code == 413
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]
    assert not Invitation.objects.exists()


def test_a_request_with_too_many_fields_is_a_json_400_naming_the_limit(api_a, campaign_a, creators):
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    fields = [("campaign", campaign_a.pk), ("partner_handle", "ben"), ("offered_fee_minor", 1), ("currency", "USD")]
    fields += [(f"f{index}", "1") for index in range(limit + 1)]

    response = api_a.post("/api/v1/invitations/", urlencode(fields), content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert response.json() == {"detail": TOO_MANY_FIELDS.format(limit=limit)}
    assert not Invitation.objects.exists()


def test_a_body_within_the_limits_still_works(api_a, campaign_a, creators):
    response = api_a.post("/api/v1/invitations/", urlencode({"campaign": campaign_a.pk, "partner_handle": "ben",
                                                             "offered_fee_minor": 1, "currency": "USD"}),
                          content_type="application/x-www-form-urlencoded")
    assert response.status_code == 201, response.content
