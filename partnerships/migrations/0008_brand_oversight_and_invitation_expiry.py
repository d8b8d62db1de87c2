"""Partnership managers oversee brand matching (view brands, campaigns, invitations; record creators'
answers), and the scheduler expires unanswered invitations every hour (editable in the admin)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# A frozen copy of what roles.py added at the time of writing.
MANAGER_PERMISSIONS = ["view_brand", "view_brandmembership", "view_campaign", "view_invitation", "change_invitation"]
SCHEDULE = "Expire unanswered invitations (hourly)"


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Partnership managers")
    perms = Permission.objects.filter(content_type__app_label="partnerships", codename__in=MANAGER_PERMISSIONS)
    missing = set(MANAGER_PERMISSIONS) - set(perms.values_list("codename", flat=True))
    if missing:
        raise RuntimeError(f"Permissions missing: {sorted(missing)}")
    group.permissions.add(*perms)
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = CrontabSchedule.objects.get_or_create(minute="5", hour="*", day_of_week="*", day_of_month="*",
                                                      month_of_year="*", timezone="UTC")
    PeriodicTask.objects.get_or_create(name=SCHEDULE, defaults={
        "task": "partnerships.expire_invitations", "crontab": hourly,
        "description": "Marks invitations still unanswered after their answer date as expired."})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("partnerships", "0007_statistics_search_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
