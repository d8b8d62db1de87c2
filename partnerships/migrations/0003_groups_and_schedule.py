"""Permission groups and the daily statistics schedule, created by migration so every environment
has them. The schedule is a django-celery-beat row: editable in the admin afterwards."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# A frozen copy: a migration must keep doing what it did when it was written, whatever roles.py becomes.
GROUPS = {
    "Partnership managers": [
        "view_partner", "change_partner", "suspend_partner", "view_partnerstatistics",
        "view_program", "change_program", "view_category", "add_category", "change_category",
        "view_enrolment", "add_enrolment", "change_enrolment", "decide_enrolment", "view_dailymetric",
    ],
    "Finance approvers": [
        "view_partner", "view_partnerstatistics", "view_program", "view_category", "view_enrolment",
        "view_dailymetric",
    ],
    "Brand users": [],
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create them now so groups can use them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="partnerships", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Permissions missing for group {name}: {sorted(missing)}")
        group.permissions.add(*perms)


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name="Refresh partner statistics (daily)",
        defaults={"task": "partnerships.refresh_partner_statistics", "crontab": daily,
                  "description": "Recomputes every partner's 30-day roll-up from the daily metrics."},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="Refresh partner statistics (daily)"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("partnerships", "0002_search_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(create_groups, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
