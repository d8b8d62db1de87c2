"""The creator portal's part of the groups (migration 0002 grants it; tests whose database was flushed call this)."""

from django.contrib.auth.models import Group, Permission

MANAGERS = "Partnership managers"


def ensure_group_permissions() -> None:
    """Partnership managers send creator account links."""
    group, _ = Group.objects.get_or_create(name=MANAGERS)
    group.permissions.add(Permission.objects.get(content_type__app_label="creators", codename="send_claiminvitation"))
