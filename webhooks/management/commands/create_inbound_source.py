"""create_inbound_source NAME [--rotate]: let a sending system post status events (docs/inbound.md).

The `whsec_` secret is printed alone on the last line so a script can take it with `tail -n 1`.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from webhooks import inbound
from webhooks.models import InboundSource


class Command(BaseCommand):
    help = "Create an inbound source and print its signing secret on the last line (or, with --rotate, a new one)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Unique name, used in the URL /webhooks/inbound/<name>/, e.g. route-planner.")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Give an existing source a new secret; requests signed with the old one fail at once.",
        )

    def handle(self, *args, name, rotate, **options):
        name = name.strip()
        max_length = InboundSource._meta.get_field("name").max_length
        try:
            validate_slug(name)
        except ValidationError:
            raise CommandError("The name must be letters, digits, hyphens or underscores (it is part of a URL).")
        if len(name) > max_length:
            raise CommandError(f"The name is longer than {max_length} characters.")

        with transaction.atomic():
            source = InboundSource.objects.select_for_update().filter(name=name).first()
            if rotate:
                if source is None:
                    raise CommandError(f"There is no inbound source named {name!r}; leave out --rotate to create it.")
                secret = inbound.rotate_source_secret(source)
                what = f"Issued a new secret to inbound source {name!r}; its previous secret no longer works."
            else:
                if source is not None:
                    raise CommandError(
                        f"An inbound source named {name!r} already exists. Use --rotate to issue it a new secret."
                    )
                try:
                    with transaction.atomic():
                        source, secret = inbound.create_source(name)
                except IntegrityError:
                    raise CommandError(
                        f"An inbound source named {name!r} already exists. Use --rotate to issue it a new secret."
                    )
                what = f"Created inbound source {name!r}."

        self.stdout.write(what)
        self.stdout.write(f"It posts signed status events to /webhooks/inbound/{name}/.")
        if not source.active:
            self.stdout.write(self.style.WARNING("The source is inactive: its events are refused until it is active."))
        self.stdout.write(
            "Sign each request per Standard Webhooks with this secret. It is shown only now; "
            "if it is lost, run this command again with --rotate. The secret:"
        )
        self.stdout.write(secret)
