"""The shape every "issue a credential" command shares: create NAME, or --rotate an existing one.

`create_api_client` (an API key) and `create_inbound_source` (a signing secret) both look the
holder up by name under a row lock, refuse a second holder of the name (also when a concurrent run
wins the insert), print what they did, and print the new secret alone on the last line so a script
can take it with `tail -n 1`. A subclass says what the holder and its secret are called and how one
is created and rotated.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction


class CredentialCommand(BaseCommand):
    model = None  # the holder's model; it has a unique `name` and an `active` flag
    noun = ""  # "API client"
    secret_word = ""  # "key"
    inactive_warning = ""  # printed when the holder is inactive
    how_to_use = ""  # printed just before the secret

    def add_rotate_argument(self, parser, help):
        parser.add_argument("--rotate", action="store_true", help=help)

    def create(self, name, **options):
        """(holder, secret) for a new holder; raise IntegrityError when the name is taken meanwhile."""
        raise NotImplementedError

    def rotate(self, holder, **options):
        """Give an existing holder a new secret and return it."""
        raise NotImplementedError

    def details(self, holder):
        """Lines printed after what was done, before the secret."""
        return []

    def issue(self, name, *, rotate, **options):
        taken = f"An {self.noun} named {name!r} already exists. Use --rotate to issue it a new {self.secret_word}."
        with transaction.atomic():
            holder = self.model.objects.select_for_update().filter(name=name).first()
            if rotate:
                if holder is None:
                    raise CommandError(f"There is no {self.noun} named {name!r}; leave out --rotate to create it.")
                secret = self.rotate(holder, **options)
                what = (
                    f"Issued a new {self.secret_word} to {self.noun} {name!r}; "
                    f"its previous {self.secret_word} no longer works."
                )
            else:
                if holder is not None:
                    raise CommandError(taken)
                try:
                    with transaction.atomic():
                        holder, secret = self.create(name, **options)
                except IntegrityError:  # created by a concurrent run since the lookup
                    raise CommandError(taken)
                what = f"Created {self.noun} {name!r}."

        self.stdout.write(what)
        for line in self.details(holder):
            self.stdout.write(line)
        if not holder.active:
            self.stdout.write(self.style.WARNING(self.inactive_warning))
        self.stdout.write(self.how_to_use)
        self.stdout.write(secret)
