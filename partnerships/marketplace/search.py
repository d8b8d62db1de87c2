"""The creator search, free of DRF: the query, the page statement and the keyset cursor.

Only partners brands may find (rules.marketplace_rule, as SQL) are ever returned, and only public fields leave
this module's callers (the serializers and templates choose them)."""

from __future__ import annotations

import binascii
import json
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from core.replica import replica_reads
from partnerships.marketplace.rules import marketplace_sql
from partnerships.models import Category, MarketplaceCreator, Partner


@dataclass(frozen=True)
class CreatorQuery:
    """A validated creator search (params.search_from_parameters makes one for the API and the page)."""

    q: str = ""
    countries: tuple[str, ...] = ()
    categories: tuple[int, ...] = ()
    kind: str = ""
    followers_min: int | None = None
    followers_max: int | None = None
    avg_views_min: int | None = None
    engagement_rate_min: Decimal | None = None


# The orderings a search offers, by the statistics column each sorts on. Ties are broken by newest partner first.
SORT_COLUMNS = {"followers": "c.followers", "avg_views": "c.avg_views_per_post", "engagement_rate": "c.engagement_rate"}
DEFAULT_ORDERING = "-followers"

# A text search of at least this many characters is served by the trigram indexes (migration 0002).
TRIGRAM_MIN_LENGTH = 3
# A text search of at least TRIGRAM_MIN_LENGTH characters on PostgreSQL first walks at most this many creators in
# the page's order (an index of the search table holding their names, migration 0023) and tests the text on each:
# a page of a common text is found within them. Only a text too rare to fill a page there is searched through the
# trigram indexes, whose cost grows with its number of matches (few, then).
TEXT_WALK_LIMIT = 10_000


@dataclass(frozen=True)
class SearchPosition:
    """Where a page of a search starts: just after the row with this sort key and id, or (``before``) just before
    it, reading backwards. The API's cursor carries one."""

    key: int | Decimal
    pk: int
    before: bool = False


def _text_condition(query: CreatorQuery, connection: BaseDatabaseWrapper, names: str) -> tuple[list[str], list]:
    """The text search on the names of the table aliased ``names``: the search table (c, migration 0023's copies)
    or the partner (p, whose trigram indexes hold only candidates' names, migration 0022)."""
    if not query.q:
        return [], []
    # Django's own icontains SQL for this database: on PostgreSQL the expression the trigram indexes are on.
    # Every backend's DatabaseWrapper defines operators; BaseDatabaseWrapper, the type of connection, does not.
    pattern = connection.operators["icontains"] % "%s"  # type: ignore[attr-defined]
    column = connection.ops.lookup_cast("icontains")
    like = f"%{connection.ops.prep_for_like_query(query.q)}%"
    where = [f"({column % f'{names}.handle'} {pattern} OR {column % f'{names}.display_name'} {pattern})"]
    params: list = [like, like]
    if names == "p":
        # Every partner of the search table is a candidate (opted in, active): said here of the partner too, for
        # the trigram indexes that hold only candidates' names (migration 0022).
        where.append("p.opted_into_brand_deals = %s AND p.status = %s")
        params += [True, Partner.Status.ACTIVE]
    return where, params


def _filters(query: CreatorQuery) -> tuple[list[str], list]:
    """The brand's filters but the text, on the search table aliased c."""
    where: list[str] = []
    params: list = []
    if query.countries:
        where.append(f"c.country IN ({', '.join(['%s'] * len(query.countries))})")
        params += query.countries
    if query.categories:
        where.append(f"EXISTS (SELECT 1 FROM {CATEGORY_LINKS} pc WHERE pc.partner_id = c.partner_id "
                     f"AND pc.category_id IN ({', '.join(['%s'] * len(query.categories))}))")
        params += query.categories
    for value, condition in ((query.kind or None, "c.kind = %s"), (query.followers_min, "c.followers >= %s"),
                             (query.followers_max, "c.followers <= %s"),
                             (query.avg_views_min, "c.avg_views_per_post >= %s"),
                             (query.engagement_rate_min, "c.engagement_rate >= CAST(%s AS NUMERIC)")):
        if value is not None:
            where.append(condition)
            params.append(value)
    return where, params


def _search_where(query: CreatorQuery, connection: BaseDatabaseWrapper, names: str = "c") -> tuple[list[str], list]:
    """The marketplace rule and every filter of the search, on the search table aliased c (and the partner aliased
    p when ``names`` is p)."""
    # The search table (MarketplaceCreator, aliased c) holds every column the rule reads, under their own names.
    rule, rule_params = marketplace_sql(partner="c", statistics="c", using=connection.alias)
    text, text_params = _text_condition(query, connection, names)
    filters, filter_params = _filters(query)
    return [rule, *text, *filters], [*rule_params, *text_params, *filter_params]


CATEGORY_LINKS = Partner.categories.through._meta.db_table
SEARCH_TABLE = MarketplaceCreator._meta.db_table
PAGE_COLUMNS = ("pk", "handle", "display_name", "kind", "country", "followers", "avg_views", "engagement",
                "posts_30d")
# The row key holding each ordering's sort key, for a cursor.
SORT_KEYS = {"followers": "followers", "avg_views": "avg_views", "engagement_rate": "engagement"}


def creator_page(query: CreatorQuery, ordering: str = DEFAULT_ORDERING, *, position: SearchPosition | None = None,
                 size: int = 50) -> tuple[list[dict], bool]:
    """One page of a creator search in hand-written SQL, as rows (dicts of PAGE_COLUMNS and ``category_slugs``) in
    the page's order, and whether more rows lie beyond it in the direction read.

    It runs on every search of the API and the brand page, so it is one statement (categories included on
    PostgreSQL) with no ORM building or compiling. It reads the search table (MarketplaceCreator: the rule's and
    the filters' columns and the names in one row, partial indexes per ordering holding only the rows past the
    thresholds and every column the page reads), so PostgreSQL walks one index in the page's order and tests each
    row's filters there. The order is ``ordering`` then newest partner first; a position reads the rows after it (or
    before it) in that order, by key, never by offset. A text search of TRIGRAM_MIN_LENGTH characters or more
    walks at most TEXT_WALK_LIMIT creators so on PostgreSQL (_text_page), and only if they hold less than a page of
    matches finds them all through the trigram indexes instead. Read from the replica when one is configured
    (core.replica)."""
    with replica_reads() as alias:
        return _creator_page(connections[alias], query, ordering, position=position, size=size)


# A page's columns, from the search table aliased c (all in its ordering indexes), and as PAGE_COLUMNS names them.
PAGE_SOURCES = ("c.partner_id", "c.handle", "c.display_name", "c.kind", "c.country", "c.followers",
                "c.avg_views_per_post", "c.engagement_rate", "c.posts_30d")
PAGE_SELECT = ", ".join(("c.partner_id AS id", *PAGE_SOURCES[1:]))


def _after(key: str, position: SearchPosition | None, key_desc: bool, pk_desc: bool) -> tuple[list[str], list]:
    """The rows past a position in the order read (by ``key``, then the partner)."""
    if position is None:
        return [], []
    key_cmp, pk_cmp = ("<" if key_desc else ">"), ("<" if pk_desc else ">")
    # The first condition alone lets an index on the key start at the position.
    # A decimal key is cast: SQLite compares an expression with the text it binds a Decimal as.
    value = "CAST(%s AS NUMERIC)" if isinstance(position.key, Decimal) else "%s"
    return ([f"{key} {key_cmp}= {value} AND ({key} {key_cmp} {value} OR c.partner_id {pk_cmp} %s)"],
            [position.key, position.key, position.pk])


def _text_page(connection: BaseDatabaseWrapper, query: CreatorQuery, column: str, order: str, *,
               position: SearchPosition | None, key_desc: bool, pk_desc: bool, size: int) -> tuple[str, list]:
    """The page statement of a text search (PostgreSQL), found one of two ways in one statement.

    First (``found``): the first TEXT_WALK_LIMIT creators in the page's order (past the position), read from an
    ordering index that includes their names, tested for the text and the filters; the first size + 1 matches among
    them are the first size + 1 of the whole search, since they are a prefix of its order. For a common text (a
    last name: one creator in 80) that reads a few thousand index entries. Only if they hold fewer (a rare text, or
    rare filters), the whole search runs through the trigram indexes on the partners' names: the sort key is then
    written ``key + 0``, which no index provides, so PostgreSQL finds the few matches first and sorts them instead
    of walking a whole index testing every name. Either way the rows are those of _search_where in the page's
    order."""
    rule, rule_params = marketplace_sql(partner="c", statistics="c", using=connection.alias)
    after, after_params = _after(column, position, key_desc, pk_desc)
    text, text_params = _text_condition(query, connection, "c")
    filters, filter_params = _filters(query)
    walked = (f"SELECT {', '.join(PAGE_SOURCES)} FROM {SEARCH_TABLE} c "
              f"WHERE {' AND '.join([rule, *after])} ORDER BY {column} {order} LIMIT %s")
    found = (f"SELECT {PAGE_SELECT} FROM ({walked}) AS c WHERE {' AND '.join([*text, *filters])} "
             f"ORDER BY {column} {order} LIMIT %s")
    key = f"({column} + 0)"
    where, where_params = _search_where(query, connection, names="p")
    searched_after, searched_after_params = _after(key, position, key_desc, pk_desc)
    searched = (f"SELECT {PAGE_SELECT} FROM {SEARCH_TABLE} c JOIN {Partner._meta.db_table} p ON p.id = c.partner_id "
                f"WHERE {' AND '.join([*where, *searched_after])} AND (SELECT COUNT(*) FROM found) <= %s "
                f"ORDER BY {key} {order} LIMIT %s")
    page = (f"WITH found AS MATERIALIZED ({found}) "
            f"SELECT * FROM found WHERE (SELECT COUNT(*) FROM found) > %s UNION ALL ({searched})")
    return page, [*rule_params, *after_params, TEXT_WALK_LIMIT, *text_params, *filter_params, size + 1, size,
                  *where_params, *searched_after_params, size, size + 1]


def _creator_page(connection: BaseDatabaseWrapper, query: CreatorQuery, ordering: str, *,
                  position: SearchPosition | None, size: int) -> tuple[list[dict], bool]:
    column = SORT_COLUMNS[ordering.lstrip("-")]
    descending = ordering.startswith("-")
    backwards = position is not None and position.before
    # Read in the page's order, or in the reverse order when reading backwards.
    key_desc, pk_desc = descending != backwards, not backwards
    order = f"{'DESC' if key_desc else 'ASC'}, c.partner_id {'DESC' if pk_desc else 'ASC'}"
    if connection.vendor == "postgresql" and len(query.q) >= TRIGRAM_MIN_LENGTH:
        page, params = _text_page(connection, query, column, order, position=position, key_desc=key_desc,
                                  pk_desc=pk_desc, size=size)
    else:
        where, params = _search_where(query, connection)
        after, after_params = _after(column, position, key_desc, pk_desc)
        page = (f"SELECT {PAGE_SELECT} FROM {SEARCH_TABLE} c WHERE {' AND '.join([*where, *after])} "
                f"ORDER BY {column} {order} LIMIT %s")
        params += [*after_params, size + 1]
    inline = connection.vendor == "postgresql"
    if inline:
        # Categories are read for the page's rows only, after it is cut.
        page = f"""SELECT page.*, COALESCE(cats.slugs, '{{}}') FROM ({page}) AS page
                   LEFT JOIN LATERAL (
                       SELECT array_agg(c.slug ORDER BY c.slug) AS slugs
                       FROM {CATEGORY_LINKS} pc JOIN {Category._meta.db_table} c ON c.id = pc.category_id
                       WHERE pc.partner_id = page.id) AS cats ON true
                   ORDER BY page.{column.split('.')[1]} {order.replace('c.partner_id', 'page.id')}"""
    with connection.cursor() as cursor:
        cursor.execute(page, params)
        fetched = cursor.fetchall()
    more = len(fetched) > size
    names = (*PAGE_COLUMNS, "category_slugs") if inline else PAGE_COLUMNS
    rows = [dict(zip(names, row, strict=True)) for row in fetched[:size]]
    if backwards:
        rows.reverse()
    if not inline:
        _add_category_slugs(rows)
    return rows, more


def _add_category_slugs(rows: list[dict]) -> None:
    slugs: dict[int, list[str]] = {row["pk"]: [] for row in rows}
    for partner_id, slug in (Partner.categories.through.objects.filter(partner_id__in=slugs)
                             .order_by("category__slug").values_list("partner_id", "category__slug")):
        slugs[partner_id].append(slug)
    for row in rows:
        row["category_slugs"] = slugs[row["pk"]]


def creator_rows(rows: list[dict]) -> list[dict]:
    """A creator_page's rows as the API returns them (CreatorSerializer documents the fields)."""
    return [
        {"handle": row["handle"], "display_name": row["display_name"], "kind": row["kind"], "country": row["country"],
         "categories": list(row["category_slugs"]), "followers": row["followers"], "avg_views": row["avg_views"],
         "engagement_rate": float(row["engagement"]), "posts_30d": row["posts_30d"]}
        for row in rows
    ]


# --- the keyset cursor --------------------------------------------------------------------------------

class InvalidSearch(Exception):  # noqa: N818 - it names what the caller was given
    """Parameters of a search that are refused, as {parameter: [messages]} (the API answers them as a 400)."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


# What a cursor may carry: the sort keys and ids are non-negative and fit a 64-bit column (18 digits always do);
# an engagement rate has at most 5 whole digits (NUMERIC(7, 2)), and SQLite may hand it back as a float with
# more fractional digits than 2.
INTEGER_KEY = re.compile(r"[0-9]{1,18}", re.ASCII)
DECIMAL_KEY = re.compile(r"[0-9]{1,5}(\.[0-9]{1,20})?", re.ASCII)
CURSOR = "cursor"


def decode_position(cursor: str | None, ordering: str) -> SearchPosition | None:
    """The position a cursor names, or InvalidSearch naming ``cursor`` if it is malformed or made for another
    ordering."""
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
        raise InvalidSearch({CURSOR: ["Invalid cursor: use the next or previous link of a page as it is."]}) from None
    if made_for != ordering:
        raise InvalidSearch({CURSOR: [
            f"This cursor pages through ordering={made_for}; to change the order, start again without a cursor."]})
    return position


def encode_position(position: SearchPosition | None, ordering: str) -> str | None:
    if position is None:
        return None
    text = f"{ordering}|{'b' if position.before else 'a'}|{position.key}|{position.pk}"
    return urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class SearchPage:
    """A page of a search: its rows (creator_page's) and the cursors of the pages before and after it, if any."""

    rows: list[dict]
    next_cursor: str | None
    previous_cursor: str | None


def search_page(query: CreatorQuery, ordering: str, *, cursor: str | None, size: int) -> SearchPage:
    """The page of a search that a cursor (or none: the first page) asks for, read by key, never by offset."""
    return search_page_at(query, ordering, position=decode_position(cursor, ordering), size=size)


def search_page_at(query: CreatorQuery, ordering: str, *, position: SearchPosition | None, size: int) -> SearchPage:
    """The page of a search from a decoded position (decode_position's), or the first page."""
    rows, more = creator_page(query, ordering, position=position, size=size)
    backwards = position is not None and position.before
    key = SORT_KEYS[ordering.lstrip("-")]
    has_next, has_previous = (True, more) if backwards else (more, position is not None)
    next_position = SearchPosition(rows[-1][key], rows[-1]["pk"]) if rows and has_next else None
    previous_position = SearchPosition(rows[0][key], rows[0]["pk"], before=True) if rows and has_previous else None
    return SearchPage(rows, encode_position(next_position, ordering), encode_position(previous_position, ordering))


# --- how many creators a search finds -------------------------------------------------------------------

# Above this many rows (by the planner's estimate) a count is shown as the estimate: counting a million creators
# exactly would cost more than the page it heads. At or below it the count is exact.
EXACT_COUNT_LIMIT = 1_000


@dataclass(frozen=True)
class ResultCount:
    number: int
    approximate: bool


def search_count(query: CreatorQuery) -> ResultCount:
    """How many creators a search finds: exact up to EXACT_COUNT_LIMIT, else PostgreSQL's planner estimate (from
    EXPLAIN, so nothing is read). SQLite has no estimate and always counts. Read from the replica when one is
    configured (core.replica)."""
    with replica_reads() as alias:
        return _search_count(connections[alias], query)


def _search_count(connection: BaseDatabaseWrapper, query: CreatorQuery) -> ResultCount:
    # The partner's names: their trigram indexes serve a text search.
    where, params = _search_where(query, connection, names="p")
    statement = f"""SELECT 1 FROM {SEARCH_TABLE} c
                    JOIN {Partner._meta.db_table} p ON p.id = c.partner_id WHERE {' AND '.join(where)}"""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}", params)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate > EXACT_COUNT_LIMIT:
                return ResultCount(estimate, approximate=True)
            # The planner may guess low: count no further than the limit, and past it say the estimate is
            # at least that.
            cursor.execute(f"SELECT COUNT(*) FROM ({statement} LIMIT %s) AS found", [*params, EXACT_COUNT_LIMIT + 1])
            counted = cursor.fetchone()[0]
            if counted > EXACT_COUNT_LIMIT:
                return ResultCount(counted, approximate=True)
            return ResultCount(counted, approximate=False)
        cursor.execute(f"SELECT COUNT(*) FROM ({statement}) AS found", params)
        return ResultCount(cursor.fetchone()[0], approximate=False)
