"""Who keeps bank details and who checks them: "Payee administrators" read and change payees in full; finance
approvers see them masked and confirm another person's change (which lifts the payment hold)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# A frozen copy of what roles.py added at the time of writing: (app label, group, codenames).
GRANTS = [
    ("payouts", "Finance approvers", ["view_payee", "confirm_payee"]),
    ("payouts", "Payee administrators", ["view_payee", "add_payee", "change_payee", "view_payee_details"]),
    ("partnerships", "Payee administrators", ["view_partner"]),
]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label, name, codenames in GRANTS:
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Permissions missing for group {name}: {sorted(missing)}")
        group.permissions.add(*perms)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label, name, codenames in GRANTS:
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    Group.objects.filter(name="Payee administrators", permissions=None).delete()


class Migration(migrations.Migration):

    dependencies = [("payouts", "0011_payees"), ("partnerships", "0016_campaign_dates_in_a_plausible_range")]

    operations = [migrations.RunPython(grant, revoke)]
