"""Finance's payout permissions, and the beat schedule: on the 1st of each month compute the previous
month of every program; every day, the month-to-date estimates. Both rows are editable in the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen copy of payouts/roles.py at the time of writing.
GROUP_PERMISSIONS = {
    "Finance approvers": [
        "view_fund", "view_budgettranche", "view_programterms", "view_payoutrun", "approve_payoutrun",
        "pay_payoutrun", "compute_payoutrun", "view_earningline", "view_adjustment", "add_adjustment",
        "view_ledgeraccount", "view_ledgertransaction", "view_ledgerentry", "view_adrevenue", "view_video",
        "view_videodailyviews",
    ],
    "Partnership managers": [
        "view_fund", "view_budgettranche", "view_programterms", "view_payoutrun", "view_earningline",
        "view_adjustment",
    ],
}
SCHEDULES = [
    # 12:00 UTC on the 1st: by then the month has ended in every time zone from UTC-12 to UTC+14.
    ("Compute last month's payouts (monthly, 1st)", "payouts.compute_previous_month", {"minute": "0", "hour": "12",
     "day_of_month": "1"}, "Computes the month that just ended for every paying program, in its time zone."),
    ("Estimate month-to-date earnings (daily)", "payouts.estimate_month_to_date", {"minute": "45", "hour": "2",
     "day_of_month": "*"}, "Recomputes every paying program's estimate for the current month."),
]


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="payouts", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Permissions missing for group {name}: {sorted(missing)}")
        group.permissions.add(*perms)
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, cron, description in SCHEDULES:
        schedule, _ = CrontabSchedule.objects.get_or_create(day_of_week="*", month_of_year="*", timezone="UTC", **cron)
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": schedule,
                                                                "description": description})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0002_sql_functions_and_ledger_triggers"),
        ("partnerships", "0003_groups_and_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
