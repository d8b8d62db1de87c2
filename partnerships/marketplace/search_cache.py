"""A short-lived cache of creator search pages, shared by every brand, for the API and the brand page.

What is kept: a page's rows and cursors (search.search_page_at) and, for the page, the count (search.search_count);
never a response. Links, the brand's campaigns and everything else that depends on who asks are built per request.
Authentication, permission, throttle and membership run on every request before the cache is read (DRF's
``initial`` and the page's decorators and ``_brands``), so a revoked or expired token or a removed member is refused
even while the page is cached; and since nothing kept depends on the brand, one entry serves every brand and holds
nothing any brand may not see.

The key is the normalised search: the validated filters (lists sorted and without repeats), the ordering, the
decoded cursor position, the page size, the day (the age rule) and the marketplace's thresholds. Each entry carries
the generation it was read under, and only an entry of the current generation is served. A statistics refresh and
any write to a partner, its categories or statistics, or a category starts a new generation once it commits
(search_cache_invalidate), so a suspended or opted-out creator leaves every cached page at once; otherwise an entry
lives SEARCH_CACHE_SECONDS. A generation is a random token, not a counter: an evicted generation key never brings
old entries back.

The cache must be shared by every web process (CACHE_URL): SEARCH_CACHE_SECONDS is 0 by default without one."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from partnerships.marketplace import search
from partnerships.marketplace.search import CreatorQuery, ResultCount, SearchPage, SearchPosition
from partnerships.models import Category, Partner, PartnerStatistics

logger = logging.getLogger(__name__)
GENERATION_KEY = "search:generation"
KEY_PREFIX = "search:v1"  # a new version when what an entry holds changes shape


def _thresholds() -> list[int]:
    return [settings.MARKETPLACE_MIN_AGE, settings.MARKETPLACE_MIN_FOLLOWERS, settings.MARKETPLACE_MIN_VIEWS_30D,
            settings.MARKETPLACE_MIN_POSTS_30D]


def search_key(query: CreatorQuery) -> list:
    """The normalised search: equal for every request that finds the same creators (in any order of repeated
    parameters), as JSON-ready values."""
    rate = query.engagement_rate_min
    return [query.q, sorted(set(query.countries)), sorted(set(query.categories)), query.kind, query.followers_min,
            query.followers_max, query.avg_views_min, None if rate is None else str(rate.normalize()),
            timezone.localdate().isoformat(), _thresholds()]


def _key(kind: str, parts: list) -> str:
    digest = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()
    return f"{KEY_PREFIX}:{kind}:{digest}"


def page_key(query: CreatorQuery, ordering: str, position: SearchPosition | None, size: int,
             kind: str = "page") -> str:
    where = None if position is None else [str(position.key), position.pk, position.before]
    return _key(kind, [*search_key(query), ordering, where, size])


def count_key(query: CreatorQuery) -> str:
    return _key("count", search_key(query))


def _generation(found: dict) -> str:
    """The current generation (one is started if there is none, e.g. after a restart or an eviction)."""
    generation = found.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        # Another process may have added its own first; a generation evicted at once leaves this one unserved.
        generation = cache.get(GENERATION_KEY) or uuid.uuid4().hex
    return generation


def _current(entry, generation: str) -> tuple | None:
    """The entry's values if it was read under this generation."""
    if isinstance(entry, tuple) and entry and entry[0] == generation:
        return entry[1:]
    return None


def cached_search(query: CreatorQuery, ordering: str, *, cursor: str | None, size: int,
                  count: bool = False) -> tuple[SearchPage, ResultCount | None]:
    """The page of the search a cursor asks for and (``count``) how many creators it finds, from the cache when an
    entry of the current generation holds them. A bad cursor is refused (search.InvalidSearch) before anything is
    read. When the cache cannot be reached, the search is read from the database, logged."""
    position = search.decode_position(cursor, ordering)

    def from_database() -> tuple[SearchPage, ResultCount | None]:
        return (search.search_page_at(query, ordering, position=position, size=size),
                search.search_count(query) if count else None)

    seconds = settings.SEARCH_CACHE_SECONDS
    if seconds <= 0:
        return from_database()
    key_of_page = page_key(query, ordering, position, size)
    key_of_count = count_key(query) if count else None
    try:
        found = cache.get_many([GENERATION_KEY, key_of_page, *([key_of_count] if key_of_count else [])])
        generation = _generation(found)
    except Exception:  # the cache backend's own errors (redis.RedisError, OSError): no common base to name
        logger.exception("Search pages not cached: the cache is unreachable")
        return from_database()
    store: dict[str, tuple] = {}
    held = _current(found.get(key_of_page), generation)
    if held is not None:
        page = SearchPage(*held)
    else:
        page = search.search_page_at(query, ordering, position=position, size=size)
        store[key_of_page] = (generation, page.rows, page.next_cursor, page.previous_cursor)
    result_count = None
    if key_of_count:
        held = _current(found.get(key_of_count), generation)
        if held is not None:
            result_count = ResultCount(*held)
        else:
            result_count = search.search_count(query)
            store[key_of_count] = (generation, result_count.number, result_count.approximate)
    if store:
        try:
            cache.set_many(store, timeout=seconds)
        except Exception:
            logger.exception("Search pages not cached: the cache is unreachable")
    return page, result_count


def cached_rendered_page(query: CreatorQuery, ordering: str, *, cursor: str | None, size: int,
                         render: Callable[[list[dict]], bytes]) -> tuple[bytes, str | None, str | None]:
    """The page cached_search reads, as ``render`` makes its rows (the API's JSON), and its next and previous
    cursors. Kept rendered, a cached page is answered without building or rendering its rows again: its own
    entry (the brand page keeps rows), under the same generation, key and lifetime as cached_search's."""
    position = search.decode_position(cursor, ordering)

    def from_database() -> tuple[bytes, str | None, str | None]:
        page = search.search_page_at(query, ordering, position=position, size=size)
        return render(page.rows), page.next_cursor, page.previous_cursor

    seconds = settings.SEARCH_CACHE_SECONDS
    if seconds <= 0:
        return from_database()
    key = page_key(query, ordering, position, size, kind="rendered")
    try:
        found = cache.get_many([GENERATION_KEY, key])
        generation = _generation(found)
    except Exception:  # the cache backend's own errors (redis.RedisError, OSError): no common base to name
        logger.exception("Search pages not cached: the cache is unreachable")
        return from_database()
    held = _current(found.get(key), generation)
    if held is not None:
        return held  # type: ignore[return-value]
    page = from_database()
    try:
        cache.set(key, (generation, *page), timeout=seconds)
    except Exception:
        logger.exception("Search pages not cached: the cache is unreachable")
    return page


def _new_generation() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def search_cache_invalidate() -> None:
    """Every cached search page stops being served once the current transaction commits (at once outside one).

    A page read before the commit and stored after it carries the generation it was read under, which is then no
    longer current. Asked many times in one transaction (an import of many partners), it starts one generation."""
    connection = transaction.get_connection()
    # run_on_commit holds (savepoint ids, callback, robust): a callback of a rolled-back savepoint is gone from it.
    if connection.in_atomic_block and any(entry[1] is _new_generation for entry in connection.run_on_commit):
        return
    # robust: the write has committed; a cache that cannot be reached is logged, and entries expire on their own.
    transaction.on_commit(_new_generation, robust=True)


def _changed(sender, **kwargs) -> None:
    if kwargs.get("action", "post_").startswith("post_"):  # m2m_changed sends pre_ and post_ actions
        search_cache_invalidate()


def connect_signals() -> None:
    """Writes that can change what a search finds or shows: partners (status, opt-in, age, names, ...), their
    statistics and categories, categories. Saves of every kind (services, admin, imports) send these; the
    set-based statistics refreshes call search_cache_invalidate themselves."""
    for model in (Partner, PartnerStatistics, Category):
        post_save.connect(_changed, sender=model, dispatch_uid=f"search_cache.save.{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"search_cache.delete.{model.__name__}")
    m2m_changed.connect(_changed, sender=Partner.categories.through, dispatch_uid="search_cache.partner_categories")
