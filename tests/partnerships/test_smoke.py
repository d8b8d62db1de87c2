from partnerships.models import Program


def test_migrations_create_the_permission_groups(db):
    from django.contrib.auth.models import Group

    managers = Group.objects.get(name="Partnership managers")
    assert managers.permissions.filter(codename="decide_enrolment").exists()
    assert not Group.objects.get(name="Finance approvers").permissions.filter(codename="decide_enrolment").exists()
    assert Program.objects.count() == 0
