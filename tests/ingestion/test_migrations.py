"""The import job moved from partnerships to ingestion by a state-only migration: on a database migrated before
the move, existing jobs, the groups' permission to view them and the admin's log entries about them survive,
and the move can be undone."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ingestion.models import ImportJob

BEFORE = [("partnerships", "0013_payout_readiness_permission"), ("ingestion", None)]
AFTER = [("ingestion", "0002_move_import_job_content_type")]

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    state = executor.migrate(targets)
    ContentType.objects.clear_cache()
    return state.apps


def migrate_to_latest():
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_the_move():
    apps = migrate(BEFORE)
    yield apps
    migrate_to_latest()


def test_jobs_permissions_and_log_entries_survive_the_move(before_the_move):
    # given: a database before the move, a job, a group holding view_importjob (granted by partnerships 0006)
    apps = before_the_move
    ContentTypeThen = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(*get_user_model()._meta.label.split("."))
    LogEntryThen = apps.get_model("admin", "LogEntry")
    content_type = ContentTypeThen.objects.get(app_label="partnerships", model="importjob")
    permission = Permission.objects.get(content_type=content_type, codename="view_importjob")
    group, _ = Group.objects.get_or_create(name="Finance approvers")
    group.permissions.add(permission)
    user = User.objects.create(username="finance.before", is_staff=True)
    user.groups.add(group)
    job = apps.get_model("partnerships", "ImportJob").objects.create(
        kind="ad_revenue", source_name="revenue.csv", status="succeeded", rows_loaded=3, created_by=user)
    entry = LogEntryThen.objects.create(user=user, content_type=content_type, object_id=str(job.pk),
                                    object_repr="revenue.csv", action_flag=1)

    # when: the move is applied
    migrate(AFTER)

    # then: the same job, content type, permission and log entry, now ingestion's
    # (named columns: the model of today has columns later migrations add)
    moved = ImportJob.objects.filter(pk=job.pk).values_list("kind", "source_name", "status", "rows_loaded",
                                                            "created_by_id").get()
    assert moved == ("ad_revenue", "revenue.csv", "succeeded", 3, user.pk)
    assert ContentType.objects.get_for_model(ImportJob).pk == content_type.pk
    assert not ContentType.objects.filter(app_label="partnerships", model="importjob").exists()
    finance = get_user_model().objects.get(pk=user.pk)
    assert finance.has_perm("ingestion.view_importjob")
    assert not finance.has_perm("partnerships.view_importjob")
    assert LogEntry.objects.get(pk=entry.pk).content_type.model_class() is ImportJob


def test_the_move_can_be_undone(before_the_move):
    content_type_id = ContentType.objects.get(app_label="partnerships", model="importjob").pk
    migrate(AFTER)

    apps = migrate(BEFORE)

    ContentTypeThen = apps.get_model("contenttypes", "ContentType")
    assert ContentTypeThen.objects.get(app_label="partnerships", model="importjob").pk == content_type_id
    assert not ContentTypeThen.objects.filter(app_label="ingestion", model="importjob").exists()
