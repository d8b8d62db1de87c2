"""Permission groups: each app lists which of its permissions each group holds (its roles module, which data
migrations read), and ensure_groups() gives them again where a database was emptied (a test that flushes tables,
a restored dump)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission


def ensure_groups(app_label: str, groups: dict[str, list[str]]) -> None:
    for name, codenames in groups.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
