"""ensure_local_admin: the `admin` / `admin` superuser of a local demo, made once (used by bin/run).

A known password is acceptable only on a developer's own machine, so the command refuses to run
unless DEBUG is on, and it never changes an existing `admin` (its password may have been changed).
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "admin"
PASSWORD = "admin"  # noqa: S105 - a local demo's known password, refused outside DEBUG


class Command(BaseCommand):
    help = "Create the local demo superuser admin / admin if it is missing (DEBUG=true only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "ensure_local_admin makes a superuser with a known password; it runs only with DEBUG=true "
                "(a local demo). Use `manage.py createsuperuser` anywhere else."
            )
        User = get_user_model()
        if User.objects.filter(**{User.USERNAME_FIELD: USERNAME}).exists():
            self.stdout.write(f'User "{USERNAME}" already exists; left unchanged.')
            return
        User.objects.create_superuser(
            **{User.USERNAME_FIELD: USERNAME, "email": "admin@example.com", "password": PASSWORD}
        )
        self.stdout.write(f'Created superuser "{USERNAME}" with password "{PASSWORD}".')
        self.stdout.write(
            "These credentials are for a local demo only: never run bin/run against a shared or public database."
        )
