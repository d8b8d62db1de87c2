"""The brand API's interactive documentation (drf-spectacular's Swagger UI, served from this deployment)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import page_problems

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_docs_page_is_accessible(page, screenshot):
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert page.get_attribute("html", "lang") == "en"
    assert "Creator Partnerships brand API" in page.inner_text(".swagger-ui .info .title")
    page.click(".opblock-summary >> nth=0")  # an operation opened, as a reader would
    page.wait_for_selector(".opblock-body")
    problems = page_problems(page)
    assert problems == [], "\n".join(problems)
    screenshot(page, "api-docs")
