"""create_api_client NAME --scopes S1,S2 [--rotate]: issue an API key (docs/api.md).

The key is printed alone on the last line so a script can take it with `tail -n 1`; only its
digest is stored, so this is the one time anyone sees it.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from orders.models import ApiClient


def parse_scopes(value):
    """Split "a,b" into a list of known scopes, in the order given and without repeats."""
    scopes = []
    for scope in (s.strip() for s in value.split(",")):
        if scope and scope not in scopes:
            scopes.append(scope)
    if not scopes:
        raise CommandError(f"--scopes names no scope. Valid scopes: {', '.join(ApiClient.Scope.values)}.")
    unknown = [s for s in scopes if s not in ApiClient.Scope.values]
    if unknown:
        raise CommandError(
            f"Unknown scope{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            f"Valid scopes: {', '.join(ApiClient.Scope.values)}."
        )
    return scopes


class Command(BaseCommand):
    help = "Create an API client and print its key on the last line (or, with --rotate, issue it a new key)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Unique name of the client, e.g. the calling system: erp, web-shop.")
        parser.add_argument(
            "--scopes",
            help=f"Comma-separated scopes. Valid: {', '.join(ApiClient.Scope.values)}. "
            "Required for a new client; with --rotate, replaces the client's scopes.",
        )
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Issue a new key to an existing client; its old key stops working at once.",
        )

    def handle(self, *args, name, scopes, rotate, **options):
        name = name.strip()
        if not name:
            raise CommandError("The client needs a name.")
        max_length = ApiClient._meta.get_field("name").max_length
        if len(name) > max_length:
            raise CommandError(f"The name is longer than {max_length} characters.")
        scope_list = parse_scopes(scopes) if scopes is not None else None

        with transaction.atomic():
            client = ApiClient.objects.select_for_update().filter(name=name).first()
            if rotate:
                if client is None:
                    raise CommandError(f"There is no API client named {name!r}; leave out --rotate to create it.")
                if scope_list is not None:
                    client.scopes = scope_list
                key = client.set_new_key()
                client.save()
                what = f"Issued a new key to API client {name!r}; its previous key no longer works."
            else:
                if client is not None:
                    raise CommandError(
                        f"An API client named {name!r} already exists. Use --rotate to issue it a new key."
                    )
                if scope_list is None:
                    raise CommandError(
                        f"--scopes is required for a new client. Valid scopes: {', '.join(ApiClient.Scope.values)}."
                    )
                client = ApiClient(name=name, scopes=scope_list)
                key = client.set_new_key()
                try:
                    with transaction.atomic():
                        client.save(force_insert=True)
                except IntegrityError:
                    raise CommandError(
                        f"An API client named {name!r} already exists. Use --rotate to issue it a new key."
                    )
                what = f"Created API client {name!r}."

        self.stdout.write(what)
        self.stdout.write(f"Scopes: {', '.join(client.scopes) or '(none)'}")
        if not client.active:
            self.stdout.write(self.style.WARNING("The client is inactive: the key works once it is made active."))
        self.stdout.write(
            "Send the key as 'Authorization: Bearer <key>'. It is shown only now and cannot be recovered; "
            "if it is lost, run this command again with --rotate. The key:"
        )
        self.stdout.write(key)
