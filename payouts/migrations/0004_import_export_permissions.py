"""Import and export permissions of the money side, granted to finance: import and export ad revenue, export
earning lines and statements."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# A frozen copy of what roles.py added at the time of writing.
GRANTS = {"Finance approvers": ["import_adrevenue", "export_adrevenue", "export_earningline"]}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="payouts", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Permissions missing for group {name}: {sorted(missing)}")
        group.permissions.add(*perms)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="payouts", codename__in=codenames)
            )


class Migration(migrations.Migration):

    dependencies = [
        ('payouts', '0003_groups_and_schedule'),
        ('partnerships', '0006_import_export_permissions'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='adrevenue',
            options={'permissions': [('import_adrevenue', 'Can import ad revenue (spreadsheet or bulk file)'), ('export_adrevenue', 'Can export ad revenue to a spreadsheet')], 'verbose_name_plural': 'ad revenue'},
        ),
        migrations.AlterModelOptions(
            name='earningline',
            options={'permissions': [('export_earningline', 'Can export earning lines and statements to a spreadsheet')]},
        ),
        migrations.RunPython(grant, revoke),
    ]
