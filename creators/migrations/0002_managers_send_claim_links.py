"""Partnership managers send creator account links (the admin's "Send a creator account link…")."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Partnership managers"
CODENAME = "send_claiminvitation"


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create this one now so the group can get it.
    app_config = apps.get_app_config("creators")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(Permission.objects.get(content_type__app_label="creators", codename=CODENAME))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="creators", codename=CODENAME))


class Migration(migrations.Migration):

    dependencies = [
        ("creators", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
