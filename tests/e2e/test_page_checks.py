"""The checks every journey's pages go through (conftest.page_problems) do find what they look for."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import page_problems

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unlabelled_field_and_a_page_wider_than_a_phone_are_found(page):
    raw = page.unchecked
    raw.set_content('<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
                    '<input id="fee"><div style="width:600px">wide</div></main></body></html>')
    problems = page_problems(raw, phone=True)
    assert any("axe label (critical) at #fee" in problem for problem in problems), problems
    assert any(problem.endswith("px wide at a 390 px viewport") for problem in problems), problems
    assert not any("1440 px viewport" in problem for problem in problems)  # it fits a desktop
    assert raw.viewport_size == {"width": 1440, "height": 900}  # given back at its width


def test_a_page_that_fits_and_names_its_fields_passes(page):
    raw = page.unchecked
    raw.set_content('<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
                    '<label for="fee">Fee</label><input id="fee"></main></body></html>')
    assert page_problems(raw, phone=True) == []
