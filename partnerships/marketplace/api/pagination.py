"""Keyset pagination of the creator search for the API: search.search_page's cursors as next and previous links.

The cursor names the ordering, a direction and the sort key and id of the row it starts from, so every page is
read from an index position, never by skipping rows. A cursor that is malformed, or that was made for another
ordering, is a 400 naming ``cursor``, like every other bad parameter of the search."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination

from partnerships.marketplace import params, search, search_cache
from partnerships.marketplace.search import CreatorQuery


class CreatorKeysetPagination(CursorPagination):
    """Pages of search.creator_page. Inherits CursorPagination's response shape (next, previous, results) and its
    schema; the reading is search_page's. Bad parameters raise search.InvalidSearch."""

    page_size = params.PAGE_SIZE
    page_size_query_param = params.PAGE_SIZE_PARAMETER
    max_page_size = params.MAX_PAGE_SIZE
    cursor_query_param = search.CURSOR
    ordering = search.DEFAULT_ORDERING
    # Set by paginate_creators before the links are asked for. The page is not CursorPagination's ``page`` (a list
    # of model instances): the search reads its own.
    base_url: str
    search_result: search.SearchPage

    def paginate_creators(self, request, query: CreatorQuery, ordering: str) -> list[dict]:
        """The page of the search the request asks for (its cursor and page_size), as creator_page rows."""
        self.base_url = request.build_absolute_uri()
        size = params.page_size(request.query_params)
        cursor = request.query_params.get(self.cursor_query_param)
        self.search_result, _ = search_cache.cached_search(query, ordering, cursor=cursor, size=size)
        return self.search_result.rows

    def get_next_link(self) -> str | None:
        return params.with_parameter(self.base_url, self.cursor_query_param, self.search_result.next_cursor)

    def get_previous_link(self) -> str | None:
        return params.with_parameter(self.base_url, self.cursor_query_param, self.search_result.previous_cursor)
