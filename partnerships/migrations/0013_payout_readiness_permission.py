"""Payout readiness (tax form, identity) becomes finance's: a permission of its own, given to "Finance approvers"
only. Partnership managers keep change_partner but no longer set these facts (issue 15, separation of duties)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Finance approvers"
CODENAME = "change_payout_readiness"


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create this one now so the group can get it.
    app_config = apps.get_app_config("partnerships")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(Permission.objects.get(content_type__app_label="partnerships", codename=CODENAME))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="partnerships", codename=CODENAME))


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0012_bounded_brand_text'),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='partner',
            options={'permissions': [('suspend_partner', 'Can suspend and reinstate partners'), ('import_partner', 'Can import partners from a spreadsheet'), ('export_partner', 'Can export partners to a spreadsheet'), ('change_payout_readiness', "Can record a partner's tax form and identity checks")]},
        ),
        migrations.RunPython(grant, revoke),
    ]
