# The import job's content type follows the model to ingestion: its permissions (view_importjob, held by groups
# since partnerships 0006) and the admin's log entries point at the content type, so they stay as they are.

from django.db import migrations

MODEL = "importjob"


def relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    moving = ContentType.objects.filter(app_label=old, model=MODEL).first()
    if moving is None:
        return  # a database that never had the model's content type: post_migrate creates it under the new label
    # One made under the new label before this ran has no grants yet; the moving one keeps its own.
    ContentType.objects.filter(app_label=new, model=MODEL).delete()
    moving.app_label = new
    moving.save(update_fields=["app_label"])
    from django.contrib.contenttypes.models import ContentType as CachedContentType

    CachedContentType.objects.clear_cache()


def forwards(apps, schema_editor):
    relabel(apps, "partnerships", "ingestion")


def backwards(apps, schema_editor):
    relabel(apps, "ingestion", "partnerships")


class Migration(migrations.Migration):

    dependencies = [
        ("ingestion", "0001_initial"),
        ("partnerships", "0014_import_job_moves_to_ingestion"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
