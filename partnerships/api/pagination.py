"""Keyset pagination of the creator search, for the API and the brand page.

The cursor names the ordering, a direction and the sort key and id of the row it starts from, so every page is
read from an index position, never by skipping rows. A cursor that is malformed, or that was made for another
ordering, is a 400 naming ``cursor``, like every other bad parameter of the search."""

from __future__ import annotations

import binascii
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from decimal import Decimal, InvalidOperation

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.utils.urls import replace_query_param

from partnerships import brand_selectors
from partnerships.brand_selectors import CreatorQuery, SearchPosition

# What a cursor may carry: the sort keys and ids are non-negative and fit a 64-bit column (18 digits always do);
# an engagement rate has at most 5 whole digits (NUMERIC(7, 2)), and SQLite may hand it back as a float with
# more fractional digits than 2.
INTEGER_KEY = re.compile(r"[0-9]{1,18}", re.ASCII)
DECIMAL_KEY = re.compile(r"[0-9]{1,5}(\.[0-9]{1,20})?", re.ASCII)


class CreatorKeysetPagination(CursorPagination):
    """Pages of brand_selectors.creator_page. Inherits CursorPagination's response shape (next, previous, results)
    and its schema; the reading is its own."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = brand_selectors.DEFAULT_ORDERING

    def paginate_creators(self, request, query: CreatorQuery, ordering: str) -> list[dict]:
        """The page of the search the request asks for (its cursor and page_size), as creator_page rows."""
        self.base_url = request.build_absolute_uri()
        self.search_ordering = ordering
        size = self.requested_page_size(request)
        position = self.decode_position(request.query_params.get(self.cursor_query_param), ordering)
        rows, more = brand_selectors.creator_page(query, ordering, position=position, size=size)
        backwards = position is not None and position.before
        key = brand_selectors.SORT_KEYS[ordering.lstrip("-")]
        has_next, has_previous = (True, more) if backwards else (more, position is not None)
        self.next_position = SearchPosition(rows[-1][key], rows[-1]["pk"]) if rows and has_next else None
        self.previous_position = (SearchPosition(rows[0][key], rows[0]["pk"], before=True)
                                  if rows and has_previous else None)
        return rows

    def requested_page_size(self, request) -> int:
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        try:
            size = int(value)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [
                f"Ask for a whole number of results from 1 to {self.max_page_size}."]})
        return size

    def decode_position(self, cursor: str | None, ordering: str) -> SearchPosition | None:
        if cursor is None:
            return None
        try:
            text = urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4)).decode("ascii")
            made_for, direction, key, pk = text.split("|")
            decimal_key = ordering.lstrip("-") == "engagement_rate"
            # Plain ASCII digits of a bounded length only: int() and Decimal() also take other scripts' digits,
            # signs, underscores, exponents and 10**400, which the database then refuses with a 500.
            if not (DECIMAL_KEY if decimal_key else INTEGER_KEY).fullmatch(key) or not INTEGER_KEY.fullmatch(pk):
                raise ValueError(key)
            value = Decimal(key) if decimal_key else int(key)
            position = SearchPosition(value, int(pk), before={"a": False, "b": True}[direction])
        except (UnicodeError, binascii.Error, ValueError, KeyError, InvalidOperation):
            raise ValidationError({self.cursor_query_param: [
                "Invalid cursor: use the next or previous link of a page as it is."]}) from None
        if made_for != ordering:
            raise ValidationError({self.cursor_query_param: [
                f"This cursor pages through ordering={made_for}; to change the order, start again without a "
                "cursor."]})
        return position

    def encode_position(self, position: SearchPosition) -> str:
        text = f"{self.search_ordering}|{'b' if position.before else 'a'}|{position.key}|{position.pk}"
        return urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")

    def link(self, position: SearchPosition | None) -> str | None:
        if position is None:
            return None
        return replace_query_param(self.base_url, self.cursor_query_param, self.encode_position(position))

    def get_next_link(self) -> str | None:
        return self.link(self.next_position)

    def get_previous_link(self) -> str | None:
        return self.link(self.previous_position)
