"""Import and export permissions (django-import-export asks for `<app>.import_<model>` / `export_<model>`,
see IMPORT_EXPORT_*_PERMISSION_CODE), and the groups that get them: managers import and export partners and
daily metrics and export enrolments, brands and campaigns; both groups follow ingestion jobs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# A frozen copy of what roles.py added at the time of writing.
GRANTS = {
    "Partnership managers": [
        "import_partner", "export_partner", "import_dailymetric", "export_dailymetric", "export_enrolment",
        "export_brand", "export_campaign", "view_importjob",
    ],
    "Finance approvers": ["view_importjob"],
}


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create the new ones now so groups can get them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="partnerships", codename__in=codenames)
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
                *Permission.objects.filter(content_type__app_label="partnerships", codename__in=codenames)
            )


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0005_brands_and_import_jobs'),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='brand',
            options={'ordering': ['name'], 'permissions': [('export_brand', 'Can export brands to a spreadsheet')]},
        ),
        migrations.AlterModelOptions(
            name='campaign',
            options={'permissions': [('export_campaign', 'Can export campaigns to a spreadsheet')]},
        ),
        migrations.AlterModelOptions(
            name='dailymetric',
            options={'permissions': [('import_dailymetric', 'Can import daily metrics (spreadsheet or bulk file)'), ('export_dailymetric', 'Can export daily metrics to a spreadsheet')]},
        ),
        migrations.AlterModelOptions(
            name='enrolment',
            options={'permissions': [('decide_enrolment', 'Can approve, reject, suspend, reinstate and end enrolments'), ('export_enrolment', 'Can export enrolments to a spreadsheet')]},
        ),
        migrations.AlterModelOptions(
            name='partner',
            options={'permissions': [('suspend_partner', 'Can suspend and reinstate partners'), ('import_partner', 'Can import partners from a spreadsheet'), ('export_partner', 'Can export partners to a spreadsheet')]},
        ),
        migrations.RunPython(grant, revoke),
    ]
