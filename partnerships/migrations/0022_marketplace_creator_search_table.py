"""The creator search's table (partnerships.models.search.MarketplaceCreator) and the triggers that keep it.

A row per partner who opted into brand deals, is active and has a statistics row; it is written again, from the
partner and statistics rows, after every insert, update or delete of either (PostgreSQL: one set-based statement per
triggering statement, over its transition table; SQLite: per row). An upsert changes nothing when nothing the row
copies changed, so a partner's save that touches other columns writes no new row version.

On PostgreSQL, partial indexes serve the search's orderings: they hold only the rows past the marketplace thresholds
in force when this migration ran (the MARKETPLACE_* settings; the search's statement then writes the same values,
which is what lets the planner use them). With other thresholds later, the search stays exact and these indexes are
simply not used: make new ones for the new values. The table is filled once here, with writers of partners and
statistics held off meanwhile (SHARE locks), so no change slips between the fill and the triggers.

Written out in SQL (not calling application code) so the migration never changes."""

from django.conf import settings
from django.db import migrations, models

TABLE = "partnerships_marketplacecreator"
PARTNER = "partnerships_partner"
STATISTICS = "partnerships_partnerstatistics"
COLUMNS = ("partner_id", "kind", "country", "date_of_birth", "age_verified", "opted_into_brand_deals", "status",
           "followers", "views_30d", "posts_30d", "avg_views_per_post", "engagement_rate")
SOURCES = ("p.id", "p.kind", "p.country", "p.date_of_birth", "p.age_verified", "p.opted_into_brand_deals",
           "p.status", "s.followers", "s.views_30d", "s.posts_30d", "s.avg_views_per_post", "s.engagement_rate")
# Who has a row: the rule's conditions that hold whatever the day and the settings.
CANDIDATE = "p.opted_into_brand_deals AND p.status = 'active'"
SELECT = (f"SELECT {', '.join(SOURCES)} FROM {PARTNER} p JOIN {STATISTICS} s ON s.partner_id = p.id "
          f"WHERE {CANDIDATE}")

# PostgreSQL: sync(ids) writes again the rows of the partners ids; each trigger hands it its statement's ids. A row
# that would not change is left alone, not even locked (ON CONFLICT locks a row it then does not update): a
# partner's save that changes nothing here never waits for a statistics refresh holding that row.
PG_SYNC = f"""
CREATE OR REPLACE FUNCTION cp_marketplace_creator_sync(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM {TABLE} c WHERE c.partner_id = ANY(ids) AND NOT EXISTS (
        SELECT 1 FROM {PARTNER} p JOIN {STATISTICS} s ON s.partner_id = p.id
        WHERE p.id = c.partner_id AND {CANDIDATE});
    INSERT INTO {TABLE} AS c ({', '.join(COLUMNS)})
    {SELECT} AND p.id IN (SELECT DISTINCT unnest(ids)) AND NOT EXISTS (
        SELECT 1 FROM {TABLE} m WHERE m.partner_id = p.id
        AND ({', '.join(f'm.{column}' for column in COLUMNS[1:])}) IS NOT DISTINCT FROM ({', '.join(SOURCES[1:])}))
    ON CONFLICT (partner_id) DO UPDATE SET {', '.join(f'{column} = EXCLUDED.{column}' for column in COLUMNS[1:])}
    WHERE ({', '.join(f'c.{column}' for column in COLUMNS[1:])})
          IS DISTINCT FROM ({', '.join(f'EXCLUDED.{column}' for column in COLUMNS[1:])});
$$"""
# Each trigger function hands sync the partners its statement touched: after an insert or delete, every row of the
# transition table; after an update, only those whose copied columns changed (a statistics refresh rewrites every
# row, mostly with the same figures, and a partner's save rewrites every column).
COPIED = {"id": ("kind", "country", "date_of_birth", "age_verified", "opted_into_brand_deals", "status"),
          "partner_id": ("followers", "views_30d", "posts_30d", "avg_views_per_post", "engagement_rate")}


def _changed(column: str) -> str:
    copied = COPIED[column]
    return (f"SELECT n.{column} FROM new_rows n JOIN old_rows o ON o.{column} = n.{column} "
            f"WHERE ({', '.join(f'n.{c}' for c in copied)}) IS DISTINCT FROM ({', '.join(f'o.{c}' for c in copied)})")


PG_FUNCTIONS = {  # trigger function: the partners it hands to sync
    f"cp_marketplace_creator_from_{short}_{kind}": ids
    for short, column in (("partner", "id"), ("statistics", "partner_id"))
    for kind, ids in (("new", f"SELECT {column} FROM new_rows"), ("old", f"SELECT {column} FROM old_rows"),
                      ("changed", _changed(column)))
}
TRANSITIONS = {"INSERT": ("new", "NEW TABLE AS new_rows"), "DELETE": ("old", "OLD TABLE AS old_rows"),
               "UPDATE": ("changed", "OLD TABLE AS old_rows NEW TABLE AS new_rows")}
PG_TRIGGERS = [  # (name, table, event, transition tables, function)
    (f"cp_mc_{short}_{event.lower()}", table, event, TRANSITIONS[event][1],
     f"cp_marketplace_creator_from_{short}_{TRANSITIONS[event][0]}")
    for short, table in (("partner", PARTNER), ("statistics", STATISTICS))
    for event in ("INSERT", "UPDATE", "DELETE")
]
SQLITE_TRIGGERS = [  # (name, table, event, the changed row's partner id)
    (f"cp_mc_{short}_{event.lower()}", table, event, f"{'OLD' if event == 'DELETE' else 'NEW'}.{column}")
    for short, table, column in (("partner", PARTNER, "id"), ("statistics", STATISTICS, "partner_id"))
    for event in ("INSERT", "UPDATE", "DELETE")
]
# The orderings brands use, each with the rows past the thresholds only and the columns the search filters on.
ORDERINGS = {"followers": "followers", "avg_views": "avg_views_per_post", "engagement": "engagement_rate"}


# A text search finds its matches through trigram indexes on the partner's names (migration 0002's expressions); these
# hold only the candidates' names, so the few thousand matches of a common name are read from fewer rows. The search
# states the candidate conditions beside a text search so that the planner can use them.
CANDIDATE_TRIGRAM_INDEXES = {
    f"cp_partner_candidate_{column}_trgm_idx":
        f"ON {PARTNER} USING gin (UPPER({column}) gin_trgm_ops) WHERE opted_into_brand_deals AND status = 'active'"
    for column in ("handle", "display_name")
}


def _indexes() -> dict[str, str]:
    eligible = (f"opted_into_brand_deals AND status = 'active'"
                f" AND followers >= {int(settings.MARKETPLACE_MIN_FOLLOWERS)}"
                f" AND views_30d >= {int(settings.MARKETPLACE_MIN_VIEWS_30D)}"
                f" AND posts_30d >= {int(settings.MARKETPLACE_MIN_POSTS_30D)}")
    covered = ["kind", "country", "date_of_birth", "age_verified", "followers", "avg_views_per_post",
               "engagement_rate", "posts_30d"]
    return {
        f"cp_mc_{name}_idx": f"ON {TABLE} ({column}, partner_id) "
                             f"INCLUDE ({', '.join(c for c in covered if c != column)}) WHERE {eligible}"
        for name, column in ORDERINGS.items()
    }


def create(apps, schema_editor):
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        execute(f"LOCK TABLE {PARTNER}, {STATISTICS} IN SHARE MODE")
        execute(PG_SYNC)
        for function, ids in PG_FUNCTIONS.items():
            execute(f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN
                            PERFORM cp_marketplace_creator_sync(ARRAY({ids}));
                            RETURN NULL;
                        END $$""")
        for name, table, event, transitions, function in PG_TRIGGERS:
            execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transitions} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
        execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) {SELECT}")
        for name, definition in {**_indexes(), **CANDIDATE_TRIGRAM_INDEXES}.items():
            execute(f"CREATE INDEX {name} {definition}")
        execute(f"ANALYZE {TABLE}")
        return
    for name, table, event, partner_id in SQLITE_TRIGGERS:
        execute(f"""CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN
                        DELETE FROM {TABLE} WHERE partner_id = {partner_id};
                        INSERT INTO {TABLE} ({', '.join(COLUMNS)}) {SELECT} AND p.id = {partner_id};
                    END""")
    execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) {SELECT}")


def drop(apps, schema_editor):
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        for name, table, *_ in PG_TRIGGERS:
            execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in CANDIDATE_TRIGRAM_INDEXES:
            execute(f"DROP INDEX IF EXISTS {name}")
        for function in PG_FUNCTIONS:
            execute(f"DROP FUNCTION IF EXISTS {function}()")
        execute("DROP FUNCTION IF EXISTS cp_marketplace_creator_sync(bigint[])")
        return
    for name, *_ in SQLITE_TRIGGERS:
        execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0021_daily_metrics_partitioned_by_month'),
    ]

    operations = [
        migrations.CreateModel(
            name='MarketplaceCreator',
            fields=[
                ('partner_id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('creator', 'Creator'), ('public_figure', 'Public figure'), ('publisher', 'Publisher'), ('educator', 'Educator'), ('institution', 'Institution')], max_length=20)),
                ('country', models.CharField(max_length=2)),
                ('date_of_birth', models.DateField(null=True)),
                ('age_verified', models.BooleanField()),
                ('opted_into_brand_deals', models.BooleanField()),
                ('status', models.CharField(choices=[('active', 'Active'), ('suspended', 'Suspended'), ('removed', 'Removed')], max_length=20)),
                ('followers', models.BigIntegerField()),
                ('views_30d', models.BigIntegerField()),
                ('posts_30d', models.IntegerField()),
                ('avg_views_per_post', models.BigIntegerField()),
                ('engagement_rate', models.DecimalField(decimal_places=2, max_digits=7)),
            ],
            options={
                'verbose_name': 'marketplace creator (search table)',
            },
        ),
        migrations.RunPython(create, drop),
    ]
