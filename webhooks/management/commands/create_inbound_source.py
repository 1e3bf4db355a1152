"""create_inbound_source NAME [--rotate]: let a sending system post status events (docs/inbound.md).

The `whsec_` secret is printed alone on the last line so a script can take it with `tail -n 1`.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.core.validators import validate_slug

from orders.management.credentials import CredentialCommand
from webhooks import inbound
from webhooks.models import InboundSource


class Command(CredentialCommand):
    help = "Create an inbound source and print its signing secret on the last line (or, with --rotate, a new one)."
    model = InboundSource
    noun = "inbound source"
    secret_word = "secret"
    inactive_warning = "The source is inactive: its events are refused until it is active."
    how_to_use = (
        "Sign each request per Standard Webhooks with this secret. It is shown only now; "
        "if it is lost, run this command again with --rotate. The secret:"
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Unique name, used in the URL /webhooks/inbound/<name>/, e.g. route-planner.")
        self.add_rotate_argument(
            parser, "Give an existing source a new secret; requests signed with the old one fail at once."
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
        self.issue(name, rotate=rotate)

    def create(self, name):
        return inbound.create_source(name)

    def rotate(self, source):
        return inbound.rotate_source_secret(source)

    def details(self, source):
        return [f"It posts signed status events to /webhooks/inbound/{source.name}/."]
