"""Money inputs under four eyes: finance approves adjustments someone else created, and keeps the money
configuration (fund totals, tranches, terms), each change with a reason; whoever changes it cannot approve the
runs that apply it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# A frozen copy of what roles.py added at the time of writing.
GRANTS = {"Finance approvers": ["approve_adjustment", "change_fund", "add_budgettranche", "change_budgettranche",
                                 "delete_budgettranche", "change_programterms"]}


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

    dependencies = [("payouts", "0008_exact_products")]

    operations = [migrations.RunPython(grant, revoke)]
